"""``ser demo``: the README's main job. Start the stack, analyse the sample call through the gateway, stop."""
from __future__ import annotations

import argparse
import json
import time

from services.cli.analyze import analyze_file, format_summary, format_timeline
from services.cli.stack import down, up
from shared.assets import sample_call_path
from shared.settings import Settings


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    up(settings)
    try:
        path = sample_call_path()
        print(f"\nanalysing {path.name} (stereo: agent on channel 0, customer on channel 1) "
              f"through the gateway at {settings.address('gateway')}\n")
        result = analyze_file(path, settings)
        print(format_timeline(result))
        print()
        print(format_summary(result))
        out = settings.artifacts_dir / "demo" / "sample_call.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"\nfull result: {out}")
        participants = {entry["participant"] for entry in result["timeline"]}
        if not {"agent", "customer"} <= participants:
            print(f"expected a timeline for both participants, got {sorted(participants)}")
            return 1
    finally:
        if not args.keep:
            down(settings)
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0
