"""The README's main job, end to end: `ser demo` starts the stack, segments the sample call, stops."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, free_port, scratch_redis_url

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery]


def test_demo_prints_an_emotion_timeline_for_both_channels_and_stops(tmp_path):
    env = {**os.environ, "SER_REDIS_URL": scratch_redis_url(14), "SER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
           "SER_LOG_JSON": "0"}
    for name in ("gateway", "preprocess", "features", "speaker", "inference"):
        env[f"SER_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    proc = subprocess.run([sys.executable, "-m", "services.cli.main", "demo"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "registry: added bundled model(s) default:" in proc.stdout, out[-4000:]
    result = json.loads((tmp_path / "artifacts" / "demo" / "sample_call.json").read_text())
    assert {e["participant"] for e in result["timeline"]} == {"agent", "customer"}
    assert {p["participant"] for p in result["participants"]} >= {"agent", "customer"}
    assert result["model"]["name"] == "default"
    for entry in result["timeline"]:
        assert abs(sum(entry["emotion"]["probs"]) - 1) < 1e-3 and entry["emotion"]["top_label"] in entry["emotion"]["labels"]
    assert "stopped preprocess" in proc.stdout and "stopped worker" in proc.stdout
    assert not (tmp_path / "artifacts" / "run" / "stack.json").exists()
