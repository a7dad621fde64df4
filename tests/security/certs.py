"""Test certificates made at test time: a CA, a service certificate for localhost/127.0.0.1 (server and
client use, as one Secret serves both roles in a pod), an external client's certificate, and a rogue CA."""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.settings import Settings


@dataclass(frozen=True)
class Pki:
    ca: Path
    service_cert: Path
    service_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path
    rogue_cert: Path  # signed by the rogue CA, for localhost; valid in every way but the issuer
    rogue_key: Path

    def settings(self, base: Settings, who: str = "service", ca: Path | None = None) -> Settings:
        """``base`` presenting ``who``'s certificate ("service", "client", "rogue" or "none") and trusting ``ca``."""
        cert, key = {"service": (self.service_cert, self.service_key), "client": (self.client_cert, self.client_key),
                     "rogue": (self.rogue_cert, self.rogue_key), "none": (None, None)}[who]
        return dataclasses.replace(base, tls_cert=cert, tls_key=key, tls_ca=ca)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey | None, cert: x509.Certificate) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                                serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(cn: str, issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], usages: list[x509.ObjectIdentifier],
          san: bool) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer[1].subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return key, builder.sign(issuer[0], hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("ser test CA")
    rogue = _ca("rogue CA")
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    _write(folder / "ca", None, ca[1])
    _write(folder / "rogue-ca", None, rogue[1])
    _write(folder / "service", *_leaf("ser service", ca, both, san=True))
    _write(folder / "client", *_leaf("ser client", ca, [ExtendedKeyUsageOID.CLIENT_AUTH], san=False))
    _write(folder / "rogue", *_leaf("rogue", rogue, both, san=True))
    return Pki(ca=folder / "ca.crt", service_cert=folder / "service.crt", service_key=folder / "service.key",
               client_cert=folder / "client.crt", client_key=folder / "client.key", rogue_ca=folder / "rogue-ca.crt",
               rogue_cert=folder / "rogue.crt", rogue_key=folder / "rogue.key")
