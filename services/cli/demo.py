"""``ser demo``: the README's main job. Start the stack, analyse the sample call through the services, stop."""
from __future__ import annotations

import argparse
import time

from shared.assets import sample_call_path
from shared.settings import Settings
from services.cli.remote import prepare_remote
from services.cli.segment import format_segments
from services.cli.stack import down, up


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    up(settings)
    try:
        path = sample_call_path()
        print(f"\nanalysing {path.name} through the preprocess service at {settings.address('preprocess')}")
        duration, segments = prepare_remote(path.read_bytes(), settings)
        print(format_segments(duration, segments))
        channels = {s.channel for s in segments}
        if len(channels) < 2:
            print("expected speech on both channels of the sample call")
            return 1
    finally:
        if not args.keep:
            down(settings)
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s")
    return 0
