"""The app on a real uvicorn server (a free port, real sockets): an analysis, a ranged read of its audio,
and an event stream that a client leaves early, after which the server still answers."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from services.http.app import create_app
from tests.helpers import serve_app
from tests.http.conftest import TOKEN


@pytest.fixture(scope="module")
def base_url(served):
    with serve_app(create_app(served.settings)) as url:
        yield url


def test_over_real_sockets(served, base_url):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base_url, headers=auth, timeout=60, trust_env=False) as client:
        assert client.get("/readyz").json()["status"] == "SERVING"
        with open(served.sample, "rb") as fh:
            result = client.post("/v1/calls:analyze", files={"file": ("call.wav", fh, "audio/wav")})
        assert result.status_code == 200 and len(result.json()["timeline"]) >= 6
        audio = client.get(f"/v1/calls/{result.json()['call_id']}/audio", headers={"Range": "bytes=0-43"})
        assert audio.status_code == 206 and audio.content[:4] == b"RIFF" and len(audio.content) == 44

        job_id = client.post("/v1/jobs", json={"kind": "batch_analysis", "spec": {"manifest": str(served.data)}}
                             ).json()["id"]
        for _ in range(3):  # streams left after their first event free their server side
            with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                first = next(line for line in stream.iter_lines() if line.startswith("data: "))
                assert '"JOB_STATE_PENDING"' in first
        lines: list[str] = []

        def follow() -> None:
            with httpx.Client(base_url=base_url, headers=auth, timeout=60, trust_env=False) as other, \
                    other.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                lines.extend(stream.iter_lines())

        reader = threading.Thread(target=follow)
        reader.start()
        time.sleep(0.5)
        assert client.delete(f"/v1/jobs/{job_id}").json()["state"] == "JOB_STATE_CANCELLED"
        reader.join(30)
        assert not reader.is_alive() and '"JOB_STATE_CANCELLED"' in [x for x in lines if x.startswith("data: ")][-1]
        assert client.get("/healthz").json() == {"status": "ok"}


def test_a_chunked_upload_is_cut_off_at_the_limit(served, base_url):
    """No Content-Length to check up front: the body is counted as it arrives and refused once past the limit."""
    from tests.http.conftest import MAX_AUDIO_BYTES

    sent = 0

    def body():
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
        chunk = b"\0" * (256 << 10)
        while sent < 4 * MAX_AUDIO_BYTES:
            sent += len(chunk)
            yield chunk
        yield b"\r\n--b--\r\n"

    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
                      trust_env=False) as client:
        reply = client.post("/v1/calls:analyze", content=body(),
                            headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert reply.status_code == 413 and reply.json()["code"] == "payload_too_large"
        assert "content-length" not in reply.request.headers
        assert client.get("/healthz").status_code == 200
        assert not any(p for p in served.settings.http_calls_dir.iterdir() if not (p / "result.json").exists())
