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
    env["SER_HTTP_PORT"] = str(free_port())
    proc = subprocess.run([sys.executable, "-m", "services.cli.main", "demo"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    [seeded] = [line for line in proc.stdout.splitlines() if line.startswith("registry: added bundled model(s)")]
    assert "default:3" in seeded, out[-4000:]
    result = json.loads((tmp_path / "artifacts" / "demo" / "sample_call.json").read_text())
    assert {e["participant"] for e in result["timeline"]} == {"agent", "customer"}
    assert {p["participant"] for p in result["participants"]} >= {"agent", "customer"}
    assert (result["model"]["name"], result["model"]["version"]) == ("default", "3")
    for entry in result["timeline"]:
        assert abs(sum(entry["emotion"]["probs"]) - 1) < 1e-3 and entry["emotion"]["top_label"] in entry["emotion"]["labels"]
    script = json.loads((REPO / "shared" / "assets" / "sample_call.json").read_text())
    for turn in script["turns"]:  # every scripted turn is found on its own channel
        on_channel = [e["segment"] for e in result["timeline"] if e["segment"].get("channel", 0) == turn["channel"]]
        covered = sum(max(0, min(turn["end_ms"], s["end_ms"]) - max(turn["start_ms"], s["start_ms"])) for s in on_channel)
        assert covered >= 0.8 * (turn["end_ms"] - turn["start_ms"]), (turn, on_channel)
    assert_same_posteriors_as_the_eval_path(result, tmp_path / "artifacts" / "registry")
    assert "stopped preprocess" in proc.stdout and "stopped worker" in proc.stdout
    assert f"http        ready at http://127.0.0.1:{env['SER_HTTP_PORT']}/" in proc.stdout, out[-4000:]
    assert not (tmp_path / "artifacts" / "run" / "stack.json").exists()


def assert_same_posteriors_as_the_eval_path(result: dict, registry_root) -> None:
    """Each timeline segment, cut from the call and scored by the training/eval code (its channel as the
    speaker group, its own GE2E embedding), gets the posteriors the running stack returned."""
    import soundfile as sf

    from shared.speaker.encoder import Ge2eEncoder
    from tests.contract.tiny_model import offline_posteriors

    audio, rate = sf.read(REPO / "shared" / "assets" / "sample_call.wav", dtype="float32", always_2d=True)
    assert rate == 16000
    segments = [e["segment"] for e in result["timeline"]]
    clips = [audio[s["start_ms"] * 16 : s["end_ms"] * 16, s.get("channel", 0)] for s in segments]
    groups = [f"channel{s.get('channel', 0)}" for s in segments]
    want = offline_posteriors(registry_root, "default", clips, groups, encoder=Ge2eEncoder(device="cpu"))
    for entry, expected in zip(result["timeline"], want, strict=True):
        got = entry["emotion"]["probs"]
        assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) < 0.01, (entry["segment"], got, expected)
