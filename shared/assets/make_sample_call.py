"""Synthesise the project's sample call (never corpus audio): a short stereo agent/customer exchange.

    .venv/bin/python -m shared.assets.make_sample_call          # rewrites sample_call.wav + .json

Needs the Debian ``espeak-ng`` package. Channel 0 is the agent (espeak voice en-us+m3), channel 1
the customer (en-gb+f2); turns alternate and the other channel is silent meanwhile (line noise
only), and the customer's second turn is faster, higher and louder: irritated. Output: 16 kHz,
16-bit PCM WAV, kept under 1 MB (which caps a 16 kHz stereo PCM file at ~16 s), plus
``sample_call.json`` with the scripted turn times that tests and the demo compare against.
Deterministic: fixed text, voices and noise seed; the bytes depend only on the espeak-ng version.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from shared.audio.resample import resample_array

RATE = 16000
GAP_S = 0.45
EDGE_S = 0.4
NOISE_DBFS = -66.0
SEED = 20240601
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Turn:
    channel: int
    speaker: str
    text: str
    voice: str
    speed: int = 165
    pitch: int = 50
    amplitude: int = 100
    level_dbfs: float = -4.0


AGENT, CUSTOMER = "en-us+m3", "en-gb+f2"
SCRIPT: tuple[Turn, ...] = (
    Turn(0, "agent", "Thanks for calling. How can I help?", AGENT),
    Turn(1, "customer", "My internet has been down since Monday.", CUSTOMER, level_dbfs=-7.0),
    Turn(0, "agent", "Let me check your line.", AGENT),
    Turn(1, "customer", "This is the third time I called! Nobody fixed it!", CUSTOMER, 200, 75, 200, -2.0),
    Turn(0, "agent", "I will send a technician tomorrow.", AGENT),
    Turn(1, "customer", "Fine. Thanks.", CUSTOMER, level_dbfs=-7.0),
)


def speak(turn: Turn, workdir: Path) -> np.ndarray:
    """One utterance at 16 kHz, espeak's leading/trailing silence trimmed, peak at ``level_dbfs``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng not found: apt-get install -y espeak-ng")
    out = workdir / "turn.wav"
    cmd = [exe, "-v", turn.voice, "-s", str(turn.speed), "-p", str(turn.pitch), "-a", str(turn.amplitude)]
    subprocess.run([*cmd, "-w", str(out), turn.text], check=True, capture_output=True)
    x, sr = sf.read(out, dtype="float32")
    x = resample_array(x, sr, RATE)
    voiced = np.flatnonzero(np.abs(x) > 0.01)
    x = x[voiced[0] : voiced[-1] + 1]
    return x * (10 ** (turn.level_dbfs / 20) / np.max(np.abs(x)))


def build() -> tuple[np.ndarray, list[dict]]:
    """(2, n) float32 call and the turn timeline in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        clips = [speak(t, Path(tmp)) for t in SCRIPT]
    gap, edge = int(GAP_S * RATE), int(EDGE_S * RATE)
    n = 2 * edge + sum(c.size for c in clips) + gap * (len(clips) - 1)
    rng = np.random.default_rng(SEED)
    call = (rng.standard_normal((2, n)) * 10 ** (NOISE_DBFS / 20)).astype(np.float32)
    timeline, pos = [], edge
    for turn, clip in zip(SCRIPT, clips, strict=True):
        call[turn.channel, pos : pos + clip.size] += clip
        timeline.append({**asdict(turn), "start_ms": round(pos * 1000 / RATE), "end_ms": round((pos + clip.size) * 1000 / RATE)})
        pos += clip.size + gap
    return np.clip(call, -1.0, 1.0), timeline


def main(out_dir: Path = HERE) -> Path:
    call, timeline = build()
    wav = out_dir / "sample_call.wav"
    sf.write(wav, call.T, RATE, subtype="PCM_16")
    meta = {"sample_rate": RATE, "channels": ["agent", "customer"], "duration_ms": round(call.shape[1] * 1000 / RATE), "turns": timeline}
    (out_dir / "sample_call.json").write_text(json.dumps(meta, indent=2) + "\n")
    size = wav.stat().st_size
    if size >= 1_000_000:
        raise SystemExit(f"sample call is {size} bytes; shorten the script to stay under 1 MB")
    print(f"{wav}: {call.shape[1] / RATE:.2f} s, {size} bytes")
    return wav


if __name__ == "__main__":
    main()
