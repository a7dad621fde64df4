"""TLS and mTLS on real gRPC servers built by ``build_server``, with certificates made at test time."""
from __future__ import annotations

import dataclasses

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ser.v1 import analysis_pb2_grpc

from services.common.client import channel
from services.common.security import channel_credentials, server_credentials
from services.common.server import build_server
from shared.errors import SpecError
from shared.settings import Settings
from tests.security.certs import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def plain() -> Settings:
    return Settings.from_env(env={})


def health_server(settings: Settings) -> tuple[grpc.Server, str]:
    server, port, _ = build_server("preprocess", settings, lambda s: None, port=0, health_services=[])
    server.start()
    return server, f"127.0.0.1:{port}"


def check(address: str, settings: Settings) -> grpc.StatusCode:
    """The status of one health check: OK when the handshake and the call succeed."""
    with channel(address, settings) as ch:
        try:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as exc:
            return exc.code()
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    return grpc.StatusCode.OK


def test_tls_server_serves_clients_that_trust_its_ca_and_refuses_the_rest(pki):
    server, address = health_server(pki.settings(plain(), "service", ca=None))  # TLS, no client certificates
    try:
        assert check(address, pki.settings(plain(), "none", ca=pki.ca)) == grpc.StatusCode.OK
        assert check(address, plain()) == grpc.StatusCode.UNAVAILABLE, "plaintext client must not get through"
        assert check(address, pki.settings(plain(), "none", ca=pki.rogue_ca)) == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0)


def test_mtls_server_requires_a_client_certificate_signed_by_its_ca(pki):
    server, address = health_server(pki.settings(plain(), "service", ca=pki.ca))
    try:
        assert check(address, pki.settings(plain(), "client", ca=pki.ca)) == grpc.StatusCode.OK
        assert check(address, pki.settings(plain(), "service", ca=pki.ca)) == grpc.StatusCode.OK
        assert check(address, pki.settings(plain(), "none", ca=pki.ca)) == grpc.StatusCode.UNAVAILABLE
        assert check(address, pki.settings(plain(), "rogue", ca=pki.ca)) == grpc.StatusCode.UNAVAILABLE
        assert check(address, plain()) == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0)


def test_half_configured_tls_is_refused_with_a_clear_error(pki, tmp_path):
    with pytest.raises(SpecError, match="SER_TLS_CERT and SER_TLS_KEY"):
        server_credentials(dataclasses.replace(plain(), tls_cert=pki.service_cert))
    with pytest.raises(SpecError, match="needs SER_TLS_CERT"):
        server_credentials(dataclasses.replace(plain(), tls_ca=pki.ca))
    with pytest.raises(SpecError, match="cannot read the TLS CA"):
        channel_credentials(dataclasses.replace(plain(), tls_ca=tmp_path / "missing.crt"))
    assert server_credentials(plain()) is None and channel_credentials(plain()) is None


def test_settings_read_tls_paths_and_token_from_the_environment_and_hide_secrets(pki):
    s = Settings.from_env({"SER_TLS_CERT": str(pki.service_cert), "SER_TLS_KEY": str(pki.service_key),
                           "SER_TLS_CA": str(pki.ca), "SER_GATEWAY_TOKEN": " s3cret ",
                           "SER_REDIS_URL": "redis://:hunter2@redis:6379/0"})
    assert (s.tls_cert, s.tls_key, s.tls_ca, s.gateway_token) == (pki.service_cert, pki.service_key, pki.ca, "s3cret")
    assert "s3cret" not in repr(s) and "hunter2" not in repr(s)


def test_gateway_analyses_a_call_over_mtls_end_to_end(pki, tmp_path):
    """Every hop (client -> gateway -> preprocess, inference) is mTLS with one certificate set per process."""
    from services.gateway.server import serve as serve_gateway
    from services.inference.config import InferenceConfig
    from services.inference.server import serve as serve_inference
    from services.preprocess.server import serve as serve_preprocess
    from shared.registry import ModelRegistry
    from tests.contract.test_gateway_service import call_request
    from tests.contract.tiny_model import publish_tiny

    publish_tiny(tmp_path)
    settings = pki.settings(plain(), "service", ca=pki.ca)
    preprocess, preprocess_port = serve_preprocess(settings, port=0)
    inference = serve_inference(settings, port=0, config=InferenceConfig(poll_s=5), registry=ModelRegistry(tmp_path),
                                device="cpu")
    gateway = serve_gateway(dataclasses.replace(settings, addresses={
        **settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}", "inference": f"127.0.0.1:{inference.port}"}),
        port=0)
    try:
        with channel(f"127.0.0.1:{gateway.port}", pki.settings(plain(), "client", ca=pki.ca)) as ch:
            reply = analysis_pb2_grpc.CallAnalysisStub(ch).AnalyzeCall(call_request(), timeout=120)
        assert reply.source_channels == 2 and len(reply.timeline) > 0
        with channel(f"127.0.0.1:{gateway.port}", plain()) as ch, pytest.raises(grpc.RpcError) as err:
            analysis_pb2_grpc.CallAnalysisStub(ch).AnalyzeCall(call_request(), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        gateway.stop(0)
        inference.stop(0)
        preprocess.stop(0)
