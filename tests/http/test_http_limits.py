"""Issue 18, finding 3: the token and the body limits hold before any route reads or parses a body.

No stack is needed: every request here is refused before the gateway would be called. TestClient reads a
request body whole before the app sees it, so how much of a body the app asked for is measured by driving
the ASGI app directly (``drive``).
"""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.http.app import MAX_JSON_BYTES, create_app
from shared.settings import Settings

TOKEN = "limits-test-token"
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = dataclasses.replace(Settings.from_env({}), gateway_token=TOKEN, max_audio_bytes=1 << 20)
    with TestClient(create_app(settings, gateway_address="127.0.0.1:9")) as client:
        yield client


def drive(client: TestClient, path: str, headers: dict[str, str], size: int = 64 << 20,
          head: bytes = b"") -> tuple[int, int]:
    """POST a chunked body (``head``, then spaces up to ``size`` bytes) straight to the ASGI app: (status, body
    bytes the app asked for)."""
    sent, status = 0, 0

    async def receive() -> dict:
        nonlocal sent
        if sent >= size:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = head if sent == 0 and head else b" " * CHUNK
        sent += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
    asyncio.run(client.app(scope, receive, send))
    return status, sent


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_no_token_is_401_before_the_body_is_parsed_or_read(client):
    for path in ("/v1/jobs", "/v1/calls:analyze"):
        reply = client.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
        assert reply.status_code == 401, (path, reply.text)
        status, sent = drive(client, path, {"Content-Type": "application/json"})
        assert (status, sent) == (401, 0), path
        reply = client.post(path, content=b"{}", headers={"Content-Type": "application/json",
                                                          "Authorization": "Bearer wrong"})
        assert reply.status_code == 401


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/calls:analyze"])
def test_a_body_past_its_limit_is_refused_while_it_is_read(client, path):
    status, sent = drive(client, path, {**auth(), "Content-Type": "application/json"})
    assert status == 413 and sent <= MAX_JSON_BYTES + CHUNK, sent
    reply = client.post(path, content=b" " * (MAX_JSON_BYTES + 1), headers={**auth(), "Content-Type": "application/json"})
    assert reply.status_code == 413 and reply.json()["code"] == "payload_too_large", reply.text
    declared = client.post(path, content=b"{}", headers={**auth(), "Content-Type": "application/json",
                                                         "Content-Length": str(64 << 20)})
    assert declared.status_code == 413


def test_an_upload_past_the_audio_limit_is_refused_while_it_is_read(client):
    head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    status, sent = drive(client, "/v1/calls:analyze", {**auth(), "Content-Type": "multipart/form-data; boundary=x"},
                         head=head)
    assert status == 413 and sent <= (2 << 20) + CHUNK, sent


def test_deeply_nested_json_is_422_not_500(client):
    deep = b"[" * 200_000 + b"]" * 200_000
    for path, content in (("/v1/calls:analyze", b'{"path": "x", "options": ' + deep + b"}"),
                          ("/v1/calls:analyze", deep[:400_000]),
                          ("/v1/jobs", b'{"kind": "train", "spec": ' + deep + b"}")):
        reply = client.post(path, content=content, headers={**auth(), "Content-Type": "application/json"})
        assert reply.status_code in (400, 422) and reply.status_code != 500, (path, reply.text[:200])
        assert reply.json()["code"] == "invalid_input", reply.text[:200]
    options = {"file": ("a.wav", b"RIFF", "audio/wav")}
    reply = client.post("/v1/calls:analyze", files=options, data={"options": "[" * 100_000 + "]" * 100_000},
                        headers=auth())
    assert reply.status_code == 422, reply.text[:200]


def test_every_answer_says_no_referrer(client):
    for reply in (client.get("/"), client.get("/healthz"), client.get("/v1/calls"),
                  client.get("/v1/calls", headers=auth()), client.post("/v1/jobs", content=b"{}", headers=auth())):
        assert reply.headers.get("referrer-policy") == "no-referrer", reply.headers


def test_no_access_log_line_holds_the_token_encoded_or_not():
    """Finding 5: a token with + / = in a URL is logged percent-encoded; redaction masks every form."""
    import io
    import logging
    from urllib.parse import quote, quote_plus

    from services.common.logs import configure_logging

    token = "tok+en/with=signs+" + TOKEN
    settings = dataclasses.replace(Settings.from_env({}), gateway_token=token, log_json=True)
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    log = logging.getLogger("uvicorn.access")
    for form in (token, quote(token, safe=""), quote_plus(token), quote(token)):
        log.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", f"/jobs?token={form}", "1.1", 200)
        log.warning("authorization: Bearer %s", form)
    text = stream.getvalue()
    assert text.count("***") >= 8, text
    for form in (token, quote(token, safe=""), quote_plus(token), "en/with", "en%2Fwith"):
        assert form not in text, (form, text)
