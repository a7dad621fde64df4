"""A call's emotion timeline as a PNG: one panel per channel, valence over time on label-coloured segments."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LABEL_COLOURS: dict[str, str] = {
    "angry": "#d62728", "happy": "#f2c40f", "neutral": "#9e9e9e", "sad": "#1f77b4", "fear": "#8c4fbf",
    "disgust": "#2ca02c", "surprise": "#ff7f0e", "calm": "#17becf", "boredom": "#8c564b", "contempt": "#e377c2",
    "negative": "#d62728", "positive": "#2ca02c", "other": "#7f7f7f",
}
GAP_S = 0.25
UNCERTAIN_COLOUR = "#e6e6e6"  # segments below the model's uncertain_below: hatched light grey
FALLBACK = ("#bcbd22", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2")


def label_colours(labels: Sequence[str]) -> dict[str, str]:
    """A fixed colour per known emotion, so plots of different calls read the same; others cycle a palette."""
    unknown = [label for label in labels if label not in LABEL_COLOURS]
    return {label: LABEL_COLOURS.get(label) or FALLBACK[unknown.index(label) % len(FALLBACK)] for label in labels}


def plot_timeline(result: Mapping[str, Any], path: Path | str, *, title: str = "") -> Path:
    """Write ``result`` (an AnalyzeCall response as a dict) as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    timeline = result.get("timeline", [])
    channels = sorted({e["segment"]["channel"] for e in timeline}) or [0]
    names = {e["segment"]["channel"]: e["participant"] for e in timeline}
    labels = list(result.get("labels") or sorted({e["emotion"]["top_label"] for e in timeline}))
    colours = label_colours(labels)
    duration = max([float(result.get("duration_s", 0.0)), *(e["segment"]["end_ms"] / 1000.0 for e in timeline)])
    fig, axes = plt.subplots(len(channels), 1, figsize=(12, 2.2 * len(channels) + 0.8), sharex=True, squeeze=False)
    for ax, ch in zip(axes[:, 0], channels, strict=True):
        entries = [e for e in timeline if e["segment"]["channel"] == ch]
        for e in entries:
            start, end = e["segment"]["start_ms"] / 1000.0, e["segment"]["end_ms"] / 1000.0
            if e["emotion"].get("uncertain"):  # below the model's threshold: grey, hatched, no label colour
                ax.axvspan(start, end, facecolor=UNCERTAIN_COLOUR, hatch="//", edgecolor="#8d8d8d", alpha=0.85, lw=0)
            else:
                ax.axvspan(start, end, color=colours.get(e["emotion"]["top_label"], "#7f7f7f"), alpha=0.85, lw=0)
        xs: list[float] = []
        ys: list[float] = []
        for e in entries:  # one flat stroke per segment, broken (NaN) across pauses
            start, end = e["segment"]["start_ms"] / 1000.0, e["segment"]["end_ms"] / 1000.0
            if xs and start > xs[-1] + GAP_S:
                xs.append(float("nan"))
                ys.append(float("nan"))
            xs += [start, end]
            ys += [e["emotion"]["valence"]] * 2
        ax.plot(xs, ys, color="black", lw=1.5, marker=".", ms=3, label="valence")
        ax.axhline(0.0, color="black", lw=0.5, ls=":")
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlim(0.0, max(duration, 1e-3))
        ax.set_ylabel(f"{names.get(ch, f'channel{ch}')}\nvalence")
    axes[-1, 0].set_xlabel("time (s)")
    handles = [Patch(color=colours[label], label=label) for label in labels]
    if any(e["emotion"].get("uncertain") for e in timeline):
        handles.append(Patch(facecolor=UNCERTAIN_COLOUR, hatch="//", edgecolor="#8d8d8d", label="uncertain"))
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 8), frameon=False)
    model = result.get("model") or {}
    fig.suptitle(title or f"emotion timeline ({model.get('name', '?')}:{model.get('version', '?')})", y=0.995,
                 fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
