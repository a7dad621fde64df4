"""The serving benchmark's own arithmetic: goals met or not, CPU per audio second net of idle CPU."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.bench.bench_serving import Service, cpu_per_audio_second, cpu_seconds, goal_rows, pipeline_available


def test_goal_rows_mark_each_goal_met_or_not():
    result = {"pipelines": {"inprocess": {"analyze_call_60s": {"x_real_time_p50": 49.9}}},
              "predict": [{"runtime": "torch", "clients": 1, "max_batch_size": 32, "latency_ms": {"p95": 100.0}},
                          {"runtime": "torch", "clients": 8, "max_batch_size": 32, "latency_ms": {"p95": 900.0}},
                          {"runtime": "torch", "clients": 1, "max_batch_size": 1, "latency_ms": {"p95": 500.0}}],
              "batch": {"speedup": 1.8}}
    rows = goal_rows(result)
    assert [(r[0], r[3]) for r in rows] == [("AnalyzeCall 60 s (inprocess)", False),
                                           ("3 s utterance p95, 1 client (torch)", True),
                                           ("batch: 2 workers vs 1", True)]


def test_cpu_per_audio_second_counts_a_busy_process_and_subtracts_idle_cpu():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt=time.process_time()\n"
                             "while time.process_time() - t < 0.6: pass\ntime.sleep(30)"])
    try:
        service = Service("busy", busy, "")
        before = {"busy": 0.0}  # from its start: all of its CPU time counts
        deadline, last = time.monotonic() + 20, -1.0
        while time.monotonic() < deadline:  # until it has spun and gone to sleep: its CPU time stops growing
            now = service.cpu_s()
            if now - before["busy"] >= 0.6 and now == last:
                break
            last = now
            time.sleep(0.3)
        used = service.cpu_s() - before["busy"]
        assert 0.6 <= used <= 2.0
        assert cpu_per_audio_second([service], before, audio_s=10.0)["busy"] == round(used / 10, 5)
        # 0.01 CPU s per s of idle over 20 s of wall is 0.2 CPU s that the audio did not cost
        assert cpu_per_audio_second([service], before, 10.0, {"busy": 0.01}, 20.0)["busy"] == round((used - 0.2) / 10, 5)
    finally:
        busy.kill()
        busy.wait()
    assert cpu_seconds(os.getpid()) > 0


def test_only_modes_the_code_has_are_measured():
    assert pipeline_available("inprocess")
    assert not pipeline_available("teleport")
