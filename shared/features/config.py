"""The log-mel feature spec: one frozen, hashable object that every model records.

Why ``n_fft = 1024`` by default. A 25 ms window at 16 kHz is 400 samples. With ``n_fft = 400`` the
FFT has 201 bins, 40 Hz apart. At 128 mel bands over 0-8 kHz the lowest triangles are narrower
than that bin spacing:

* HTK mel scale (torchaudio's default): 13.7 Hz between low filter centres, so a triangle is
  ~27 Hz wide and 4 filters catch no bin at all at ``n_fft = 400``, 1 at ``n_fft = 512``, 0 at 1024.
* Slaney scale (librosa's default, used here): 23 Hz between low centres; every filter touches
  a bin at 400, but the lowest ones only with peak weights of 0.16 (400) and 0.34 (512), i.e.
  they are near-copies of one bin. At 1024 the weakest filter peaks at 0.67.

1024 is the smallest power of two >= the window that leaves no empty filter on either scale, so it
is the default; the 400-sample Hamming window is centred inside the 1024-point frame (zero
padding the frame only interpolates the spectrum, the time resolution stays 25 ms).
``smallest_nfft_without_empty_filters`` recomputes this for any config and the tests check it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from shared.errors import InvalidInput, SpecError

CONFIG_VERSION = 1
_WINDOWS = ("hamming", "hann")
_LOGS = ("db", "ln", "none")
_MEL_SCALES = ("slaney", "htk")


@dataclass(frozen=True)
class LogMelConfig:
    """Everything that changes the numbers of a log-mel spectrogram (and nothing else).

    ``log="db"`` is ``librosa.power_to_db(S, ref=1.0, amin, top_db)`` with ``top_db`` relative to
    each utterance's maximum; ``"ln"`` is ``log(S + amin)`` (Kaldi-style filterbanks).
    ``per_utterance_norm`` standardises each band over time (mean 0, std 1) per utterance.
    ``deltas`` (0, 1 or 2) stacks delta and delta-delta features along the band axis.
    """

    sample_rate: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 1024
    n_mels: int = 128
    window: str = "hamming"
    fmin: float = 0.0
    fmax: float | None = None
    power: float = 2.0
    log: str = "db"
    top_db: float | None = 80.0
    amin: float = 1e-10
    per_utterance_norm: bool = False
    deltas: int = 0
    mel_scale: str = "slaney"
    mel_norm: str | None = "slaney"
    center: bool = True
    pad_mode: str = "constant"

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise SpecError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.win_length <= 0 or self.hop_length <= 0:
            raise SpecError(f"window/hop too short: win_ms={self.win_ms}, hop_ms={self.hop_ms}")
        if self.win_length > self.n_fft:
            raise SpecError(f"window ({self.win_length} samples) longer than n_fft={self.n_fft}")
        if self.window not in _WINDOWS:
            raise SpecError(f"window must be one of {_WINDOWS}, got {self.window!r}")
        if self.log not in _LOGS:
            raise SpecError(f"log must be one of {_LOGS}, got {self.log!r}")
        if self.mel_scale not in _MEL_SCALES:
            raise SpecError(f"mel_scale must be one of {_MEL_SCALES}, got {self.mel_scale!r}")
        if self.mel_norm not in (None, "slaney"):
            raise SpecError(f"mel_norm must be None or 'slaney', got {self.mel_norm!r}")
        if self.power not in (1.0, 2.0):
            raise SpecError(f"power must be 1.0 (magnitude) or 2.0 (power), got {self.power}")
        if self.deltas not in (0, 1, 2):
            raise SpecError(f"deltas must be 0, 1 or 2, got {self.deltas}")
        if not 0 <= self.fmin < self.f_max:
            raise SpecError(f"need 0 <= fmin < fmax <= sr/2, got fmin={self.fmin}, fmax={self.f_max}")
        if self.f_max > self.sample_rate / 2:
            raise SpecError(f"fmax={self.f_max} above Nyquist {self.sample_rate / 2}")
        if self.pad_mode not in ("constant", "reflect"):
            raise SpecError(f"pad_mode must be 'constant' or 'reflect', got {self.pad_mode!r}")

    @property
    def win_length(self) -> int:
        return int(round(self.win_ms * self.sample_rate / 1000.0))

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000.0))

    @property
    def f_max(self) -> float:
        return float(self.sample_rate) / 2 if self.fmax is None else float(self.fmax)

    @property
    def n_features(self) -> int:
        """Rows of the output: bands times (1 + deltas)."""
        return self.n_mels * (1 + self.deltas)

    def num_frames(self, num_samples: int) -> int:
        if self.center:
            return 1 + num_samples // self.hop_length
        return max(0, 1 + (num_samples - self.n_fft) // self.hop_length)

    def to_dict(self) -> dict[str, Any]:
        return {"version": CONFIG_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogMelConfig:
        data = dict(data)
        version = data.pop("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise SpecError(f"LogMelConfig version {version} not supported (this code: {CONFIG_VERSION})")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown LogMelConfig fields: {sorted(unknown)}")
        return cls(**data)

    def hash(self) -> str:
        return config_hash(self.to_dict())

    def replace(self, **changes: Any) -> LogMelConfig:
        return replace(self, **changes)


def config_hash(data: dict[str, Any], length: int = 16) -> str:
    """Short sha256 of canonical JSON (sorted keys, no spaces, floats as written by json)."""
    canonical = json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def _canonical(value: Any) -> Any:
    # 25 and 25.0 must hash alike: ints that are floats in disguise become floats.
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot hash config value of type {type(value).__name__}")


def mel_filterbank(config: LogMelConfig) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, 1 + n_fft // 2), float64 (librosa's formulas)."""
    to_mel, to_hz = (_hz_to_mel_slaney, _mel_to_hz_slaney) if config.mel_scale == "slaney" else (_hz_to_mel_htk, _mel_to_hz_htk)
    fft_freqs = np.linspace(0.0, config.sample_rate / 2, 1 + config.n_fft // 2)
    mel_pts = to_hz(np.linspace(to_mel(config.fmin), to_mel(config.f_max), config.n_mels + 2))
    widths = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if config.mel_norm == "slaney":
        weights *= (2.0 / (mel_pts[2:] - mel_pts[:-2]))[:, None]
    return weights


def empty_filters(config: LogMelConfig) -> list[int]:
    """Indices of mel filters that have no nonzero weight on any FFT bin."""
    weights = mel_filterbank(config)
    return [int(i) for i in np.flatnonzero(weights.max(axis=1) <= 0)]


def smallest_nfft_without_empty_filters(config: LogMelConfig, scales: tuple[str, ...] = _MEL_SCALES) -> int:
    """Smallest power of two >= the window with no empty filter on every mel scale in ``scales``."""
    n_fft = 1 << (config.win_length - 1).bit_length()
    while n_fft <= 1 << 16:
        if all(not empty_filters(replace(config, n_fft=n_fft, mel_scale=s)) for s in scales):
            return n_fft
        n_fft *= 2
    raise InvalidInput(f"no n_fft up to 65536 avoids empty filters for {config.n_mels} mels")


def _hz_to_mel_htk(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel_slaney(f: np.ndarray | float) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, f / _F_SP)


def _mel_to_hz_slaney(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


PRESETS: dict[str, LogMelConfig] = {
    # Speaker VGG CCT: 128-band log-mel images (defaults above).
    "speakercct": LogMelConfig(),
    # Parry et al.: 40 filterbanks, 25 ms / 10 ms, normalised per utterance. 40 bands are wide
    # enough that a 512-point FFT leaves no empty filter on either scale.
    "parry": LogMelConfig(n_mels=40, n_fft=512, per_utterance_norm=True),
    # VACNN + BOVW: librosa-style n_fft 2048, hop 512 samples (128 ms / 32 ms at 16 kHz),
    # window = n_fft, Hann as in librosa's default.
    "vacnn": LogMelConfig(win_ms=128.0, hop_ms=32.0, n_fft=2048, window="hann"),
}


def preset(name: str) -> LogMelConfig:
    try:
        return PRESETS[name]
    except KeyError as exc:
        raise SpecError(f"unknown log-mel preset {name!r}; known: {sorted(PRESETS)}") from exc
