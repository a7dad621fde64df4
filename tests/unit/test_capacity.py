"""The capacity arithmetic (tests/bench/capacity.py) against a case computed by hand."""
from __future__ import annotations

import json

import pytest

from tests.bench.capacity import Assumptions, cpu_request, main, plan

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  template:
    spec:
      containers:
        - name: {name}
          resources: {{requests: {{cpu: {cpu}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
"""
REQUESTS = {"gateway.yaml": ("gateway", "250m"), "inference.yaml": ("inference", "1"),
            "preprocess.yaml": ("preprocess", "500m"), "features.yaml": ("features", "500m"),
            "speaker.yaml": ("speaker", "500m"), "workers.yaml": ("worker-batch", "500m")}
SERVING = {
    "pipelines": {"inprocess": {"analyze_call_60s": {"cpu_s_per_audio_s": {"gateway": 1.0, "inference": 1.0}}}},
    "stream": {"cpu_s_per_audio_s": {"gateway": 0.01, "inference": 0.05, "preprocess": 0.0}},
    "batch": {"cpu_s_per_audio_s": {"inference (inprocess)": 0.05, "worker": 0.002},
              "redis_bytes_per_job": 2000, "calls_per_job": 10},
}


@pytest.fixture()
def k8s(tmp_path):
    for manifest, (name, cpu) in REQUESTS.items():
        (tmp_path / manifest).write_text(MANIFEST.format(name=name, cpu=cpu))
    return tmp_path


def test_pod_cpu_requests_come_from_the_manifests(k8s):
    assert cpu_request("gateway", k8s) == 0.25 and cpu_request("inference", k8s) == 1.0
    assert cpu_request("worker", k8s) == 0.5


def test_live_and_batch_match_the_hand_computed_case(k8s):
    live, batch = plan(SERVING, Assumptions(), k8s)
    by = {s.service: s for s in live.services}
    # 1,000 calls x 0.05 CPU s per audio s = 50 cores busy; at 60 % of a 1-core request: ceil(83.3) = 84 pods
    assert (by["inference"].demand_cores, by["inference"].provisioned_cores, by["inference"].pods) == (50.0, 83.33, 84)
    # 10 cores of gateway in pods of 0.25 cores at 60 %: ceil(66.7) = 67; an idle service keeps its 2
    assert (by["gateway"].demand_cores, by["gateway"].pods, by["preprocess"].pods) == (10.0, 67, 2)
    assert (live.ingress_mbit_s, live.internal_mbit_s, live.redis_mb) == (256.0, 1024.0, 0.0)
    assert live.total_pods == 84 + 67 + 2

    # 100,000 h a day = 4,166.7 audio s per s; inference 208.3 cores busy, at 80 % of 1 core: 261 pods
    assert batch.audio_s_per_s == pytest.approx(4166.667, abs=1e-3)
    bb = {s.service: s for s in batch.services}
    assert (bb["inference"].demand_cores, bb["inference"].pods) == (208.33, 261)
    assert (bb["worker"].demand_cores, bb["worker"].pods) == (8.33, 21)  # 8.33 / (0.8 x 0.5) = 20.8
    # 12,000 jobs a day (100 calls of 300 s) x 7 days x 20,000 B (2,000 B per 10 calls, scaled to 100) = 1,602.2 MiB
    assert batch.redis_mb == 1602.2
    assert batch.ingress_mbit_s == pytest.approx(4166.667 * 64000 * 8 / 1e6, abs=0.1)


def test_the_script_prints_the_table_and_takes_other_assumptions(k8s, tmp_path, capsys):
    serving = tmp_path / "serving.json"
    serving.write_text(json.dumps(SERVING))
    assert main(["--serving", str(serving), "--k8s", str(k8s), "--live-calls", "2000", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    live = printed["scenarios"][0]
    # 167 live + 261 batch inference pods; the worker runs batch only (21), preprocess 2 + 2
    assert printed["combined_pods"]["inference"] == 167 + 261 and printed["combined_pods"]["worker"] == 21
    assert live["audio_s_per_s"] == 2000 and live["services"][1]["service"] == "inference"
    assert live["services"][1]["pods"] == 167  # 100 cores / 0.6 = 166.7
    assert main(["--serving", str(serving), "--k8s", str(k8s)]) == 0
    table = capsys.readouterr().out
    assert "| inference | 0.0500 | 50.0 | 83.3 | 1 | 84 |" in table and "inference 345" in table  # 84 + 261


def test_the_hpas_in_the_manifests_follow_the_published_benchmark():
    """maxReplicas = the pods for both loads at once, from the committed serving.json: rerun
    `python tests/bench/capacity.py` after a benchmark and update k8s/base/{gateway,inference,features,speaker}.yaml."""
    import yaml

    from tests.bench.capacity import K8S, SERVING_JSON, combined_pods

    pods = combined_pods(plan(json.loads(SERVING_JSON.read_text()), Assumptions()))
    for name in ("gateway", "inference", "features", "speaker"):
        hpa = next(d for d in yaml.safe_load_all((K8S / f"{name}.yaml").read_text())
                   if d and d["kind"] == "HorizontalPodAutoscaler")
        assert hpa["spec"]["maxReplicas"] == pods[name], name
        assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == round(100 * Assumptions().live_utilisation)


def test_a_measurement_from_the_other_pipeline_is_split_as_the_manifests_run_it(k8s):
    """The stream and batch were measured in-process; the manifests run SER_PIPELINE=services, where
    features and speaker do what inference did. The split comes from both pipelines' AnalyzeCall:
    in-process inference 0.04 = services features 0.03 + speaker 0.008 + inference 0.002 (same call)."""
    serving = {**SERVING, "pipelines": {
        "inprocess": {"analyze_call_60s": {"cpu_s_per_audio_s": {"gateway": 0.001, "inference": 0.04}}},
        "services": {"analyze_call_60s": {"cpu_s_per_audio_s": {"gateway": 0.001, "features": 0.03,
                                                                 "speaker": 0.008, "inference": 0.002}}}},
        "stream": {**SERVING["stream"], "pipeline": "inprocess"},
        "batch": {**SERVING["batch"], "pipeline": "inprocess"}}
    live, batch = plan(serving, Assumptions(), k8s)
    by = {s.service: s for s in live.services}
    # the stream's inference 0.05 is 1.25x the call's 0.04: features 0.0375, speaker 0.01, inference 0.0025
    assert (by["features"].cpu_s_per_audio_s, by["speaker"].cpu_s_per_audio_s,
            by["inference"].cpu_s_per_audio_s) == (0.0375, 0.01, 0.0025)
    assert by["features"].pods == 125  # 37.5 cores / (0.6 x 0.5-core pods)
    assert by["gateway"].cpu_s_per_audio_s == 0.01 and "SER_PIPELINE=services" in live.notes[0]
    bb = {s.service: s for s in batch.services}  # batch inference 0.05 as well; the worker is not re-attributed
    assert (bb["features"].cpu_s_per_audio_s, bb["worker"].cpu_s_per_audio_s) == (0.0375, 0.002)
