"""``ser segment FILE``: speech segments per channel, in-process or through the preprocess service."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.audio.types import Segment
from shared.settings import Settings


def _local(path: Path, args: argparse.Namespace, settings: Settings) -> tuple[float, list[Segment]]:
    from shared.audio.decode import AudioLimits
    from shared.audio.pipeline import PrepareOptions, prepare
    from shared.audio.vad import SileroVad
    from shared.runtime import limit_threads

    limit_threads(settings.torch_threads)
    options = PrepareOptions(keep_channels=not args.mono, normalize=args.normalize,
                             target_rate=settings.target_sample_rate)
    prepared = prepare(path, options, vad=SileroVad(), limits=AudioLimits.from_settings(settings))
    return prepared.duration_s, list(prepared.segments)


def _remote(path: Path, args: argparse.Namespace, settings: Settings) -> tuple[float, list[Segment]]:
    from services.cli.remote import prepare_remote

    return prepare_remote(path.read_bytes(), settings, keep_channels=not args.mono, normalize=args.normalize)


def format_segments(duration_s: float, segments: list[Segment]) -> str:
    lines = [f"duration {duration_s:.2f} s, {len(segments)} segments"]
    for channel in sorted({s.channel for s in segments}):
        chan = [s for s in segments if s.channel == channel]
        talk = sum(s.duration_ms for s in chan) / 1000
        lines.append(f"channel {channel} ({chan[0].speaker or 'mono'}): {len(chan)} segments, {talk:.2f} s of speech")
        lines += [f"  {s.start_ms / 1000:8.2f} - {s.end_ms / 1000:8.2f} s  ({s.duration_ms / 1000:5.2f} s)" for s in chan]
    return "\n".join(lines)


def run_segment(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    duration, segments = (_remote if args.remote else _local)(path, args, settings)
    if args.json:
        print(json.dumps({"file": str(path), "duration_s": duration, "segments": [
            {"channel": s.channel, "speaker": s.speaker, "start_ms": s.start_ms, "end_ms": s.end_ms} for s in segments]},
            indent=2))
    else:
        print(format_segments(duration, segments))
    return 0
