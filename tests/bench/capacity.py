"""Capacity model: pods, cores, Redis memory and network for live calls and for recorded-call batches,
from what ``bench_serving.py`` measured (serving.json). docs/capacity.md explains it; this recomputes
its table.

Run: ``.venv/bin/python tests/bench/capacity.py [--serving tests/bench/results/serving.json]
[--live-calls 1000] [--batch-hours 100000]``; prints the Markdown table (``--json`` for the numbers).

The arithmetic, per service s, with c_s = CPU seconds s spent per second of call audio (measured):
- core demand = audio seconds per second x c_s, where audio seconds per second is the number of
  concurrent live calls, or recorded hours a day x 3600 / 86400 for batch;
- cores to provision = demand / target utilisation (headroom for bursts and for the HPA to act);
- pods = ceil(demand / (target utilisation x the pod's CPU request)), at least ``min_pods``: an
  HPA at averageUtilization U keeps each pod near U x its request, which is exactly this;
- network = calls x bytes per call second on each hop (formats, below);
- Redis = job records: bytes per job (measured) x jobs a day x days kept. Live calls keep their
  state in the gateway's memory, not in Redis.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SERVING_JSON = REPO / "tests" / "bench" / "results" / "serving.json"
K8S = REPO / "k8s" / "base"
# which Deployment (and manifest) runs each measured process
DEPLOYMENTS = {"gateway": ("gateway.yaml", "gateway"), "preprocess": ("preprocess.yaml", "preprocess"),
               "inference": ("inference.yaml", "inference"), "features": ("features.yaml", "features"),
               "speaker": ("speaker.yaml", "speaker"), "worker": ("workers.yaml", "worker-batch")}
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class Assumptions:
    """What the benchmark cannot measure; each is a flag of this script and a line of the doc."""

    live_calls: int = 1000
    batch_hours_per_day: float = 100_000.0
    live_utilisation: float = 0.6    # HPA target for the live path: 40 % headroom for bursts and scale-up lag
    batch_utilisation: float = 0.8   # batch queues absorb bursts; run hotter
    min_pods: int = 2                # two of everything, for availability
    ingress_bytes_per_call_s: float = 32_000.0   # 8 kHz 16-bit stereo PCM, the usual contact-centre call
    internal_bytes_per_call_s: float = 128_000.0  # gateway -> inference: float32 16 kHz, both channels, all speech
    recording_bytes_per_call_s: float = 64_000.0  # a recorded call file: 16 kHz 16-bit stereo WAV
    mean_call_s: float = 300.0       # average recorded call, for jobs per day
    calls_per_job: int = 100         # files per analyze_batch job
    job_retention_days: float = 7.0  # how long job records stay in Redis (SER_JOB_RETENTION_DAYS)
    pipeline: str = "services"       # what the manifests run (SER_PIPELINE in k8s/base/configmap.yaml)


@dataclass(frozen=True)
class ServiceLoad:
    service: str
    cpu_s_per_audio_s: float
    demand_cores: float
    provisioned_cores: float
    pod_cpu_request: float
    pods: int


@dataclass(frozen=True)
class Scenario:
    name: str
    audio_s_per_s: float
    utilisation: float
    services: list[ServiceLoad]
    ingress_mbit_s: float
    internal_mbit_s: float
    redis_mb: float
    notes: list[str] = field(default_factory=list)

    @property
    def total_cores(self) -> float:
        return sum(s.provisioned_cores for s in self.services)

    @property
    def total_pods(self) -> int:
        return sum(s.pods for s in self.services)


def cpu_request(service: str, k8s: Path = K8S) -> float:
    """The CPU request (cores) of the Deployment that runs ``service``, read from the manifests."""
    manifest, deployment = DEPLOYMENTS[service]
    for doc in yaml.safe_load_all((k8s / manifest).read_text(encoding="utf-8")):
        if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == deployment:
            cpu = str(doc["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"])
            return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    raise KeyError(f"no Deployment {deployment} in {k8s / manifest}")


def service_loads(cpu: dict[str, float], audio_s_per_s: float, utilisation: float, min_pods: int,
                  requests: dict[str, float]) -> list[ServiceLoad]:
    out = []
    for service, c in sorted(cpu.items()):
        demand = audio_s_per_s * c
        request = requests[service]
        pods = max(min_pods, math.ceil(demand / (utilisation * request) - 1e-9))
        out.append(ServiceLoad(service, c, round(demand, 2), round(demand / utilisation, 2), request, pods))
    return out


def base_service(name: str) -> str:
    """'inference (inprocess)' or 'inference' -> 'inference'."""
    return name.split(" (")[0]


def as_deployed(cpu: dict[str, float], measured_in: str | None, serving: dict[str, Any], a: Assumptions
                ) -> tuple[dict[str, float], list[str]]:
    """CPU per audio second per service as the manifests' pipeline spends it. A measurement taken with another
    SER_PIPELINE has its inference CPU re-attributed with both pipelines' AnalyzeCall measurements of the same
    call: in ``services`` mode that work is done by features, speaker and inference, in their measured ratio."""
    pipes = serving.get("pipelines") or {}
    if not measured_in or measured_in == a.pipeline or a.pipeline not in pipes or measured_in not in pipes \
            or "inference" not in cpu:
        return cpu, []
    source = {base_service(k): v for k, v in pipes[measured_in]["analyze_call_60s"]["cpu_s_per_audio_s"].items()}
    target = {base_service(k): v for k, v in pipes[a.pipeline]["analyze_call_60s"]["cpu_s_per_audio_s"].items()}
    scale = cpu["inference"] / source["inference"]
    out = dict(cpu)
    for service in ("inference", "features", "speaker"):
        if service in target:
            out[service] = round(target[service] * scale, 5)
    note = (f"measured with SER_PIPELINE={measured_in}; its inference CPU is split as in SER_PIPELINE={a.pipeline} "
            f"(what the manifests run), from both pipelines' AnalyzeCall of the same call")
    return dict(sorted(out.items())), [note]


def live_scenario(serving: dict[str, Any], a: Assumptions, requests: dict[str, float]) -> Scenario:
    stream = serving.get("stream") or {}
    measured = stream.get("cpu_s_per_audio_s")
    notes = []
    if not measured:
        mode, part = next(iter(serving["pipelines"].items()))
        measured = part["analyze_call_60s"]["cpu_s_per_audio_s"]
        notes.append(f"no AnalyzeStream CPU measurement: AnalyzeCall's ({mode}) stands in for it")
    cpu, deployed = as_deployed({base_service(k): v for k, v in measured.items()}, stream.get("pipeline"), serving, a)
    notes += deployed
    calls = float(a.live_calls)
    return Scenario(f"{a.live_calls:,} concurrent live calls (AnalyzeStream)", calls, a.live_utilisation,
                    service_loads(cpu, calls, a.live_utilisation, a.min_pods, requests),
                    ingress_mbit_s=round(calls * a.ingress_bytes_per_call_s * 8 / 1e6, 1),
                    internal_mbit_s=round(calls * a.internal_bytes_per_call_s * 8 / 1e6, 1), redis_mb=0.0,
                    notes=notes)


def batch_scenario(serving: dict[str, Any], a: Assumptions, requests: dict[str, float]) -> Scenario:
    batch = serving.get("batch") or {}
    notes = []
    if batch.get("cpu_s_per_audio_s"):
        cpu, notes = as_deployed({base_service(k): v for k, v in batch["cpu_s_per_audio_s"].items()},
                                 batch.get("pipeline"), serving, a)
        per_job = float(batch["redis_bytes_per_job"])
        measured_calls_per_job = float(batch["calls_per_job"])
    else:
        mode, part = next(iter(serving["pipelines"].items()))
        cpu = {base_service(k): v for k, v in part["analyze_call_60s"]["cpu_s_per_audio_s"].items()}
        per_job, measured_calls_per_job = 0.0, 1.0
        notes.append(f"no batch measurement: AnalyzeCall's ({mode}) CPU stands in, workers and Redis are not counted")
    audio = a.batch_hours_per_day * 3600.0 / SECONDS_PER_DAY
    jobs_per_day = a.batch_hours_per_day * 3600.0 / a.mean_call_s / a.calls_per_job
    # a job record grows with its files (results are listed per file): scale the measured size per call
    bytes_per_job = per_job * a.calls_per_job / measured_calls_per_job
    redis_mb = jobs_per_day * a.job_retention_days * bytes_per_job / 2**20
    return Scenario(f"{a.batch_hours_per_day:,.0f} recorded hours a day (batch)", audio, a.batch_utilisation,
                    service_loads(cpu, audio, a.batch_utilisation, a.min_pods, requests),
                    ingress_mbit_s=round(audio * a.recording_bytes_per_call_s * 8 / 1e6, 1),
                    internal_mbit_s=round(audio * a.internal_bytes_per_call_s * 8 / 1e6, 1),
                    redis_mb=round(redis_mb, 1), notes=notes)


def plan(serving: dict[str, Any], a: Assumptions, k8s: Path = K8S) -> list[Scenario]:
    requests = {s: cpu_request(s, k8s) for s in DEPLOYMENTS}
    return [live_scenario(serving, a, requests), batch_scenario(serving, a, requests)]


def combined_pods(scenarios: list[Scenario]) -> dict[str, int]:
    """Pods per service with every scenario's load at once (the HPAs' maxReplicas)."""
    out: dict[str, int] = {}
    for sc in scenarios:
        for s in sc.services:
            out[s.service] = out.get(s.service, 0) + s.pods
    return dict(sorted(out.items()))


def markdown(scenarios: list[Scenario], a: Assumptions, source: str) -> str:
    lines = [f"Computed by `python tests/bench/capacity.py` from `{source}`.", ""]
    for sc in scenarios:
        lines += [f"**{sc.name}**: {sc.audio_s_per_s:,.1f} s of call audio per second, target CPU utilisation "
                  f"{sc.utilisation:.0%}.", "",
                  "| service | CPU s per audio s (measured) | cores busy | cores provisioned | pod CPU request | pods |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {s.service} | {s.cpu_s_per_audio_s:.4f} | {s.demand_cores:,.1f} | {s.provisioned_cores:,.1f} | "
                  f"{s.pod_cpu_request:g} | {s.pods} |" for s in sc.services]
        lines += [f"| **total** | | {sum(s.demand_cores for s in sc.services):,.1f} | {sc.total_cores:,.1f} | | "
                  f"{sc.total_pods} |", "",
                  f"Network: {sc.ingress_mbit_s:,.1f} Mbit/s in, {sc.internal_mbit_s:,.1f} Mbit/s gateway to "
                  f"inference. Redis: {sc.redis_mb:,.1f} MB"
                  + (f" of job records ({a.job_retention_days:g} days kept)." if sc.redis_mb else
                     " beyond its base (live calls keep no state in Redis)."), ""]
        lines += [f"- {n}" for n in sc.notes] + ([""] if sc.notes else [])
    both = combined_pods(scenarios)
    lines += ["", "**Both loads at once** (pods): " + ", ".join(f"{k} {v}" for k, v in both.items()) + "."]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    defaults = Assumptions()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--serving", type=Path, default=SERVING_JSON)
    p.add_argument("--k8s", type=Path, default=K8S, help="folder of the base manifests (pod CPU requests)")
    for name, value in asdict(defaults).items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of Markdown")
    args = p.parse_args(argv)
    a = Assumptions(**{k: getattr(args, k) for k in asdict(defaults)})
    serving = json.loads(args.serving.read_text(encoding="utf-8"))
    scenarios = plan(serving, a, args.k8s)
    if args.json:
        print(json.dumps({"scenarios": [{**asdict(s), "total_cores": s.total_cores, "total_pods": s.total_pods}
                                        for s in scenarios], "combined_pods": combined_pods(scenarios)}, indent=2))
    else:
        source = args.serving.relative_to(REPO) if args.serving.is_relative_to(REPO) else args.serving
        print(markdown(scenarios, a, str(source)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
