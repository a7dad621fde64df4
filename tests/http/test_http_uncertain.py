"""POST /v1/calls:analyze with a model whose card sets ``serving.uncertain_below``: the JSON marks each uncertain
entry (``emotion.uncertain``), gives every participant ``uncertain_ms`` / ``uncertain_segments``, and its shares
are of the confident talk time only; the kept call (what the web view draws) is the same JSON."""
from __future__ import annotations

import shutil
import time

import pytest

from tests.contract.tiny_model import publish_tiny


def analyze(client, sample, **options):
    return client.post("/v1/calls:analyze", json={"path": str(sample), "options": options})


def test_uncertain_entries_and_totals_in_the_json(served):
    client = served.client
    plain = analyze(client, served.sample).json()
    assert plain["uncertain_below"] == 0
    assert not any(e["emotion"]["uncertain"] for e in plain["timeline"])
    assert all(p["uncertain_ms"] == "0" and p["uncertain_segments"] == 0 for p in plain["participants"])

    top = sorted({e["emotion"]["top_prob"] for e in plain["timeline"]})
    below = (top[len(top) // 2 - 1] + top[len(top) // 2]) / 2
    registry = served.settings.artifacts_dir / "registry"
    publish_tiny(registry, "unsure", serving={"uncertain_below": below})  # the same weights, with a threshold
    try:
        deadline = time.monotonic() + 30
        while (reply := analyze(client, served.sample, model={"name": "unsure"})).status_code == 404:
            assert time.monotonic() < deadline, "inference never saw the new model"
            time.sleep(0.3)
        assert reply.status_code == 200, reply.text
        result = reply.json()
    finally:
        shutil.rmtree(registry / "unsure")
    assert result["uncertain_below"] == pytest.approx(below)
    flags = [e["emotion"]["uncertain"] for e in result["timeline"]]
    assert flags == [e["emotion"]["top_prob"] < below for e in result["timeline"]] and any(flags) and not all(flags)
    for p in result["participants"]:
        mine = [e for e in result["timeline"] if e["participant"] == p["participant"] and not e["overlap"]]
        length = {e["index"]: int(e["segment"]["end_ms"]) - int(e["segment"]["start_ms"]) for e in mine}
        unsure = sum(length[e["index"]] for e in mine if e["emotion"]["uncertain"])
        assert int(p["uncertain_ms"]) == unsure and p["uncertain_segments"] == sum(e["emotion"]["uncertain"] for e in mine)
        assert int(p["talk_time_ms"]) == sum(length.values())
        confident = sum(length.values()) - unsure
        for s in p["shares"]:
            wanted = sum(length[e["index"]] for e in mine if not e["emotion"]["uncertain"]
                         and e["emotion"]["top_label"] == s["label"])
            assert int(s["duration_ms"]) == wanted and s["share"] == pytest.approx(wanted / confident if confident else 0)
    assert client.get(f"/v1/calls/{result['call_id']}").json() == result
