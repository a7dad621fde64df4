"""Synthetic voiced audio for the feature/speaker service tests (not a test module).

A "voice" is a glottal-like harmonic series with vibrato and a syllable-rate envelope, shaped by
two fixed formant resonances; different ``f0``/formants give clearly different spectra, enough
for KAZE keypoints, openSMILE and the speaker encoder. Deterministic for a given seed.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

RATE = 16000


def _resonator(x: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    r = np.exp(-np.pi * bandwidth / rate)
    theta = 2 * np.pi * freq / rate
    return lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)


def voice(seconds: float = 1.5, f0: float = 120.0, formants: tuple[float, float] = (700.0, 1200.0),
          seed: int = 0, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * (4 + seed % 3) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    source = sum(np.sin(k * phase) / k for k in range(1, 25))
    shaped = _resonator(source, formants[0], 90, rate) + 0.6 * _resonator(source, formants[1], 120, rate)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * (3.0 + 0.5 * (seed % 4)) * t + seed)
    x = shaped * envelope + 0.003 * rng.standard_normal(len(t))
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = RATE) -> bytes:
    """WAV (PCM 16) of (n,) mono or (n, channels) samples."""
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def decoded(data: bytes) -> np.ndarray:
    """What the services decode from ``wav_bytes`` (16-bit rounding included), mono float32."""
    x, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return x.mean(axis=1).astype(np.float32)


def write_savee(root: Path, speakers: dict[str, float], codes: tuple[str, ...] = ("a", "n", "sa")) -> Path:
    """SAVEE flat layout (``DC_a01.wav``): one file per speaker and emotion code, f0 per speaker."""
    root.mkdir(parents=True, exist_ok=True)
    for s_index, (speaker, f0) in enumerate(speakers.items()):
        for c_index, code in enumerate(codes):
            x = voice(1.2, f0=f0 * (1 + 0.05 * c_index), formants=(600 + 150 * c_index, 1100 + 200 * s_index),
                      seed=10 * s_index + c_index)
            sf.write(root / f"{speaker}_{code}01.wav", x, RATE, subtype="PCM_16")
    return root
