"""``segment_batch``: VAD-segment a batch of recordings into JSONL, one bad file never stopping the rest."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from services.jobs.app import app
from services.jobs.inputs import resolve_inputs
from services.jobs.jsonl import JsonlWriter, finished_keys, read_records
from services.jobs.progress import JobContext, run_task
from services.jobs.specs import SegmentBatchSpec
from shared.audio.decode import AudioLimits
from shared.audio.pipeline import PrepareOptions, prepare
from shared.audio.vad import SileroVad, VadConfig
from shared.errors import SerError
from shared.settings import Settings


def segment_one(path: Path, options: PrepareOptions, vad: SileroVad, limits: AudioLimits) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        prepared = prepare(path, options, vad=vad, limits=limits)
    except SerError as exc:
        return {"path": str(path), "ok": False, "error": exc.code, "message": str(exc)}
    except OSError as exc:
        return {"path": str(path), "ok": False, "error": "io_error", "message": str(exc)}
    return {
        "path": str(path),
        "ok": True,
        "duration_s": round(prepared.duration_s, 3),
        "source_rate": prepared.source_rate,
        "source_channels": prepared.source_channels,
        "segments": [
            {"channel": s.channel, "speaker": s.speaker, "start_ms": s.start_ms, "end_ms": s.end_ms}
            for s in prepared.segments
        ],
        "elapsed_s": round(time.perf_counter() - started, 3),
    }


def prepare_options(spec: SegmentBatchSpec, settings: Settings) -> PrepareOptions:
    vad = VadConfig(**spec.vad.model_dump(), sample_rate=settings.target_sample_rate)
    return PrepareOptions(keep_channels=spec.keep_channels, normalize=spec.normalize, vad=vad,
                          target_rate=settings.target_sample_rate)


def segment_files(ctx: JobContext, settings: Settings) -> dict[str, Any]:
    spec = ctx.spec
    assert isinstance(spec, SegmentBatchSpec)
    inputs = resolve_inputs(spec.inputs, spec.manifest, ctx.paths)
    out = Path(spec.output_dir or settings.artifacts_dir / "jobs") / ctx.job.id / "segments.jsonl"
    done = finished_keys(out)
    options = prepare_options(spec, settings)
    limits = AudioLimits.from_settings(settings)
    vad = SileroVad()
    total = len(inputs)
    ctx.result = {"output": str(out), "files": total}
    ctx.progress(len(done), total, f"{len(done)} already done" if done else "segmenting")
    with JsonlWriter(out, Path(spec.output_dir or settings.artifacts_dir / "jobs")) as writer:
        for refused in inputs.refused:  # outside the data roots: recorded, never opened
            if refused.path not in done:
                writer.write(refused.record())
                done.add(refused.path)
        for path in inputs.files:
            if str(path) in done:
                continue
            record = segment_one(path, options, vad, limits)
            writer.write(record)
            done.add(str(path))
            ctx.progress(len(done), total, f"{path.name}: {'ok' if record['ok'] else record['error']}")
    records = read_records(out)
    failed = [f"{r['path']}: {r['error']}" for r in records if not r["ok"]]
    return {**ctx.result, "completed": len(records) - len(failed), "failed": len(failed), "errors": failed[:20]}


@app.task(name="ser.segment_batch", bind=True)
def segment_batch(self: Any, job_id: str) -> dict[str, Any]:
    return run_task(self, job_id, segment_files)
