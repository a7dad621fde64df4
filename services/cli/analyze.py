"""``ser analyze FILE``: one call's emotion timeline and per-participant summary, as tables, JSON and a PNG.

By default the call goes to a running gateway (SER_GATEWAY_ADDR); ``--local`` starts preprocess,
inference and gateway in this process on the local registry, so both paths run the same servers.
Either way the file is uploaded in chunks (AnalyzeUpload), never read whole, so calls of any length
up to the gateway's SER_MAX_AUDIO_SECONDS / SER_MAX_AUDIO_MB work.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.errors import NotFound
from shared.settings import Settings

TIMEOUT_S = 3600.0  # an hour-long call on a busy CPU box takes minutes


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, numbers right-aligned, one header rule."""
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in cells[1:] if r[i]) and len(cells) > 1 for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])]).rstrip()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def emotion_cell(emotion: Mapping[str, Any]) -> str:
    """The top label, with a ``?`` when the segment is uncertain (its top probability is below the model's
    serving.uncertain_below): shown, but left out of the shares."""
    return f"{emotion['top_label']}?" if emotion.get("uncertain") else emotion["top_label"]


def format_timeline(result: Mapping[str, Any]) -> str:
    rows = [(e["index"], f"{e['segment']['start_ms'] / 1000:.2f}", f"{e['segment']['end_ms'] / 1000:.2f}",
             e["participant"], emotion_cell(e["emotion"]), f"{e['emotion']['top_prob']:.2f}",
             f"{e['emotion']['valence']:+.2f}", f"{e['emotion']['arousal']:+.2f}") for e in result["timeline"]]
    return text_table(("#", "start s", "end s", "participant", "emotion", "p", "valence", "arousal"), rows)


def format_summary(result: Mapping[str, Any]) -> str:
    from services.jobs.analyze_client import participant_digest

    digest = {d["participant"]: d for d in participant_digest(result)}
    rows = []
    for p in result["participants"]:
        d = digest[p["participant"]]
        shares = sorted((s for s in p["shares"] if s["duration_ms"] > 0), key=lambda s: -s["share"])
        turns = ", ".join(f"{t['at_ms'] / 1000:.1f}s {t['from_label']}->{t['to_label']}" for t in p["negative_turns"])
        unsure_ms = p.get("uncertain_ms", 0)
        unsure = (f"{unsure_ms / 1000:.1f} s ({100 * unsure_ms / p['talk_time_ms']:.0f}%)"
                  if unsure_ms and p["talk_time_ms"] else "-")
        rows.append((p["participant"], p["channel"], f"{d['talk_time_s']:.1f}", f"{100 * d['talk_share']:.0f}%",
                     unsure, d["dominant"] or "-",
                     " ".join(f"{s['label']} {100 * s['share']:.0f}%" for s in shares[:3]),
                     f"{d['mean_valence']:+.2f}", turns or "-"))
    table = text_table(("participant", "ch", "talk s", "talk", "uncertain", "dominant", "shares", "valence",
                        "negative turns"), rows)
    silence = result["silence"]
    model = result["model"]
    below = result.get("uncertain_below", 0.0)
    note = ""
    if below:
        note = (f"\n\nuncertain (p below {below:.2f}, the model's calibrated threshold; marked ? above): "
                "left out of shares, dominant, valence and negative turns")
    return (f"{table}{note}\n\nsilence {silence['total_ms'] / 1000:.1f} s ({100 * silence['share']:.0f}%), "
            f"overlap {silence['overlap_ms'] / 1000:.1f} s; {result['duration_s']:.1f} s call, "
            f"model {model['name']}:{model['version']}, processed in {result['processing_s']:.2f} s")


def analyze_file(path: Path, settings: Settings, *, model: str | None = None, options: Mapping[str, Any] | None = None,
                 address: str | None = None) -> dict[str, Any]:
    """AnalyzeUpload of one file, streamed from disk, through the gateway at ``address`` (default SER_GATEWAY_ADDR)."""
    from ser.v1 import analysis_pb2_grpc

    from services.common.client import channel
    from services.jobs.analyze_client import analyze_options, analyze_path, response_to_dict

    if not path.is_file():
        raise NotFound(f"no such audio file: {path}")
    with channel(address or settings.address("gateway"), settings) as ch:
        response = analyze_path(analysis_pb2_grpc.CallAnalysisStub(ch), path, analyze_options(options, model),
                                call_id=path.name, timeout_s=TIMEOUT_S)
    return response_to_dict(response)


def call_options(args: argparse.Namespace) -> dict[str, Any]:
    """AnalyzeOptions (JSON form) from the command line."""
    options: dict[str, Any] = {"mix_down": True} if args.mono else {}
    if args.speakers:
        options["num_speakers"] = args.speakers
    if args.first_speaker:
        options["first_speaker_role"] = args.first_speaker
    if args.no_diarize:
        options["call_mode"] = "CALL_MODE_CHANNELS"
    if args.no_overlap:
        options["skip_overlap"] = True
    return options


def run_analyze(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    options = call_options(args)
    if args.local:
        from services.cli.local_stack import local_stack

        with local_stack(settings) as local:
            result = analyze_file(path, local, model=args.model, options=options)
    else:
        result = analyze_file(path, settings, model=args.model, options=options, address=args.gateway)
    print(f"{path.name}: {len(result['timeline'])} segments\n")
    print(format_timeline(result))
    print()
    print(format_summary(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"\nJSON: {args.json}")
    if args.plot:
        from services.cli.timeline_plot import plot_timeline

        print(f"plot: {plot_timeline(result, args.plot, title=f'{path.name}: emotion timeline')}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("analyze", help="emotion timeline and per-participant summary of one call recording")
    s.add_argument("file")
    s.add_argument("--model", help="NAME[:VERSION_OR_ALIAS] (default: the 'default' model)")
    s.add_argument("--json", metavar="OUT", help="write the whole result as JSON")
    s.add_argument("--plot", metavar="OUT.png", help="write a PNG emotion timeline per channel")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--remote", dest="local", action="store_false", help="through a running gateway (default)")
    where.add_argument("--local", dest="local", action="store_true",
                       help="start preprocess, speaker, inference and gateway in this process on the local registry")
    s.add_argument("--gateway", help="gateway host:port (default SER_GATEWAY_ADDR)")
    s.add_argument("--mono", action="store_true", help="mix channels down and diarize instead of one participant "
                   "per channel")
    s.add_argument("--speakers", type=int, default=0, help="mono calls: number of speakers (default: estimate, 1..4)")
    s.add_argument("--first-speaker", default="", metavar="ROLE",
                   help="mono calls: role of the first speaker (default: the first role, agent)")
    s.add_argument("--no-diarize", action="store_true", help="mono calls: one participant, not diarized")
    s.add_argument("--no-overlap", action="store_true", help="mono calls: no overlap entries, every instant to one "
                   "participant")
    s.add_argument("--speaker-normalize", action="store_true",
                   help="deprecated, ignored: per-channel normalisation follows the model card")
    s.set_defaults(local=False)
