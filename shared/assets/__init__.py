"""Small files the project ships: the synthetic sample call (see make_sample_call.py)."""
from __future__ import annotations

import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def sample_call_path() -> Path:
    """The stereo sample call: channel 0 agent, channel 1 customer, 16 kHz 16-bit PCM WAV."""
    return _HERE / "sample_call.wav"


def sample_call_turns() -> list[dict]:
    """Scripted turns of the sample call (channel, speaker, text, start_ms, end_ms)."""
    return json.loads((_HERE / "sample_call.json").read_text())["turns"]
