"""POST /v1/calls:analyze (multipart and path) gives AnalyzeCall's result as JSON; kept calls list, replay and
stream with Range; bad input gets a problem-details 4xx and the server keeps serving."""
from __future__ import annotations

import json

import pytest
from google.protobuf.json_format import ParseDict
from ser.v1 import analysis_pb2, common_pb2

from services.http.app import create_app
from services.jobs.job_proto import proto_json
from tests.http.conftest import MAX_AUDIO_BYTES

PROBLEM = "application/problem+json"


def grpc_result(served, **options) -> analysis_pb2.AnalyzeCallResponse:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=served.sample.read_bytes()))
    request = analysis_pb2.AnalyzeCallRequest(audio=audio, call_id="grpc", options=analysis_pb2.AnalyzeOptions(**options))
    return served.stub.AnalyzeCall(request, timeout=120)


def comparable(result: dict) -> dict:
    """The result without what differs per request (the id and the wall time)."""
    return {k: v for k, v in result.items() if k not in ("call_id", "processing_s")}


def assert_problem(reply, status: int, code: str) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    body = reply.json()
    assert body["status"] == status and body["code"] == code and body["type"].endswith(code)
    assert body["title"] and body["detail"]
    return body


def test_multipart_and_path_give_the_grpc_result(served):
    client = served.client
    expected = proto_json(grpc_result(served))
    with open(served.sample, "rb") as fh:
        uploaded = client.post("/v1/calls:analyze", files={"file": ("call.wav", fh, "audio/wav")})
    assert uploaded.status_code == 200, uploaded.text
    by_path = client.post("/v1/calls:analyze", json={"path": str(served.sample)})
    assert by_path.status_code == 200, by_path.text
    assert len(expected["timeline"]) >= 6 and expected["source_channels"] == 2
    assert comparable(uploaded.json()) == comparable(expected) == comparable(by_path.json())
    # the JSON is protobuf's mapping: int64 as strings, every field present, enums by name
    first = uploaded.json()["timeline"][0]
    assert isinstance(first["segment"]["start_ms"], str) and "participant" in first

    listed = client.get("/v1/calls").json()["calls"]
    assert [c["call_id"] for c in listed[:2]] == [by_path.json()["call_id"], uploaded.json()["call_id"]]
    assert listed[1]["filename"] == "call.wav" and listed[0]["filename"] == "sample_call.wav"
    assert listed[0]["duration_s"] == pytest.approx(expected["duration_s"])
    assert client.get(f"/v1/calls/{listed[1]['call_id']}").json() == uploaded.json()


def test_options_travel_as_json(served):
    mono = proto_json(grpc_result(served, mix_down=True))
    with open(served.sample, "rb") as fh:
        reply = served.client.post("/v1/calls:analyze", files={"file": ("c.wav", fh)},
                                   data={"options": json.dumps({"mix_down": True})})
    assert reply.status_code == 200 and comparable(reply.json()) == comparable(mono)
    assert {e["segment"]["channel"] for e in reply.json()["timeline"]} == {0}
    by_path = served.client.post("/v1/calls:analyze", json={"path": str(served.sample), "options": {"mix_down": True}})
    assert comparable(by_path.json()) == comparable(mono)


def test_audio_is_served_with_range(served):
    client = served.client
    with open(served.sample, "rb") as fh:
        call_id = client.post("/v1/calls:analyze", files={"file": ("call.wav", fh)}).json()["call_id"]
    whole = client.get(f"/v1/calls/{call_id}/audio")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.content == served.sample.read_bytes() and whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"/v1/calls/{call_id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == served.sample.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{served.sample.stat().st_size}"


def test_only_the_last_calls_are_kept(served):
    client = served.client
    ids = [client.post("/v1/calls:analyze", json={"path": str(served.sample)}).json()["call_id"] for _ in range(4)]
    listed = [c["call_id"] for c in client.get("/v1/calls").json()["calls"]]
    assert listed == ids[::-1][:3]  # http_keep_calls=3
    assert_problem(client.get(f"/v1/calls/{ids[0]}"), 404, "not_found")
    assert len(list(served.settings.http_calls_dir.iterdir())) == 3


def test_bad_input_gets_problem_details_and_the_server_keeps_serving(served, tmp_path):
    client = served.client
    kept = len(client.get("/v1/calls").json()["calls"])
    text = client.post("/v1/calls:analyze", files={"file": ("notes.wav", b"this is not audio at all" * 100)})
    assert assert_problem(text, 422, text.json()["code"])["code"] in ("corrupt_audio", "unsupported_audio")
    oversize = client.post("/v1/calls:analyze", files={"file": ("big.wav", b"\0" * (MAX_AUDIO_BYTES + (1 << 20)))})
    assert_problem(oversize, 413, "payload_too_large")
    assert_problem(client.post("/v1/calls:analyze", files={"nofile": ("x", b"1")}), 422, "invalid_input")
    assert_problem(client.post("/v1/calls:analyze", content=b"x", headers={"content-type": "text/plain"}),
                   415, "unsupported_media_type")
    assert_problem(client.post("/v1/calls:analyze", json={"path": str(tmp_path / "x.wav")}), 422, "invalid_input")
    assert_problem(client.post("/v1/calls:analyze", json={"path": str(served.data / "none.wav")}), 404, "not_found")
    assert_problem(client.post("/v1/calls:analyze", json={"path": str(served.sample), "options": {"vad": 3}}),
                   422, "invalid_input")
    assert_problem(client.get("/v1/calls/0123456789abcdef0123456789abcdef"), 404, "not_found")
    assert_problem(client.get("/v1/calls/..%2F..%2Fetc/audio"), 404, "not_found")
    bad_token = client.get("/v1/calls", headers={"Authorization": "Bearer wrong"})
    assert_problem(bad_token, 401, "unauthenticated")
    assert bad_token.headers["www-authenticate"].startswith("Bearer")
    assert_problem(client.get("/v1/calls", headers={"Authorization": ""}), 401, "unauthenticated")
    # nothing failed was kept, and the next call works
    assert len(client.get("/v1/calls").json()["calls"]) == kept
    assert client.post("/v1/calls:analyze", json={"path": str(served.sample)}).status_code == 200
    assert sorted(p.name for p in served.settings.http_calls_dir.iterdir()) == sorted(
        c["call_id"] for c in client.get("/v1/calls").json()["calls"])


def test_pages_and_probes_need_no_token(served):
    client = served.client
    for path, marker in (("/", b"<html"), ("/jobs", b"<html"), ("/docs", b"swagger")):
        reply = client.get(path, headers={"Authorization": ""})
        assert reply.status_code == 200 and marker in reply.content.lower(), path
    assert client.get("/healthz", headers={"Authorization": ""}).json() == {"status": "ok"}
    ready = client.get("/readyz", headers={"Authorization": ""})
    assert ready.status_code == 200 and ready.json()["status"] == "SERVING"
    spec = client.get("/openapi.json").json()
    assert {"/v1/calls:analyze", "/v1/jobs", "/v1/jobs/{job_id}/events", "/v1/models"} <= set(spec["paths"])


def test_models_are_the_registry(served):
    models = served.client.get("/v1/models").json()["models"]
    assert [(m["name"], m["version"], m["aliases"]) for m in models] == [("default", "1", ["default"])]
    assert models[0]["architecture"] == "cct_2_3x2_32" and models[0]["labels"] == ["angry", "happy", "neutral", "sad"]


def test_an_unreachable_gateway_is_503(served):
    import dataclasses

    from fastapi.testclient import TestClient

    from tests.helpers import free_port

    settings = dataclasses.replace(served.settings, gateway_token="")
    with TestClient(create_app(settings, gateway_address=f"127.0.0.1:{free_port()}")) as client:
        assert_problem(client.get("/readyz"), 503, "gateway_unavailable")
        reply = client.post("/v1/calls:analyze", json={"path": str(served.sample)})
        assert_problem(reply, 503, "gateway_unavailable")
        assert_problem(client.get("/v1/jobs/abc"), 503, "gateway_unavailable")


def test_parse_dict_of_a_stored_result_is_the_message(served):
    """What the API stores is exact protobuf JSON: it parses back into the same AnalyzeCallResponse."""
    reply = served.client.post("/v1/calls:analyze", json={"path": str(served.sample)}).json()
    message = ParseDict(reply, analysis_pb2.AnalyzeCallResponse())
    assert proto_json(message) == reply
