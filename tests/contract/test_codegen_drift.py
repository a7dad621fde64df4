"""The committed stubs in protos/ser/v1 must be exactly what the .proto files generate."""
from __future__ import annotations

from pathlib import Path

from services.common.codegen import GENERATED_SUFFIXES, PROTO_PACKAGE_DIR, PROTO_ROOT, generate, proto_files


def test_committed_stubs_match_protos(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert len(fresh) == 3 * len(proto_files()) >= 21
    drifted = [
        str(path.relative_to(tmp_path))
        for path in fresh
        if not (PROTO_ROOT / path.relative_to(tmp_path)).is_file()
        or (PROTO_ROOT / path.relative_to(tmp_path)).read_bytes() != path.read_bytes()
    ]
    assert not drifted, f"stubs differ from the .proto files, run `make proto`: {drifted}"


def test_no_orphan_stubs() -> None:
    """A stub whose .proto was deleted or renamed must be deleted too."""
    sources = {p.stem for p in (PROTO_ROOT / PROTO_PACKAGE_DIR).glob("*.proto")}
    stubs = [
        p for p in (PROTO_ROOT / PROTO_PACKAGE_DIR).iterdir() if any(p.name.endswith(s) for s in GENERATED_SUFFIXES)
    ]
    orphans = [p.name for p in stubs if p.name.split("_pb2")[0] not in sources]
    assert stubs and not orphans, f"stubs without a .proto: {orphans}"


def test_every_contract_declares_package_ser_v1() -> None:
    for rel in proto_files():
        text = (PROTO_ROOT / rel).read_text()
        assert "package ser.v1;" in text, rel
