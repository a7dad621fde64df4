"""Seeded augmentation: waveform transforms, then the one front end, then spectrogram masks.

Time-domain transforms return waveforms; the caller turns them into features with the same
``LogMelFrontEnd`` as clean audio (there is no second STFT here, the seed code's mistake).
Spectrogram masks act on that front end's output. Every random draw comes from a
``numpy.random.Generator`` seeded by the caller, so an augmented copy is reproducible from
``(item, seed)`` alone; that is what ``oversample`` hands out for offline minority oversampling.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

from shared.errors import EmptyAudio, InvalidInput, SpecError
from shared.features.config import config_hash

T = TypeVar("T")


# ----------------------------------------------------------------------------- single transforms
def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (tempo and pitch together), by polyphase resampling."""
    if factor <= 0:
        raise InvalidInput(f"speed factor must be positive, got {factor}")
    ratio = Fraction(factor).limit_denominator(200)
    return resample_poly(x, ratio.denominator, ratio.numerator).astype(np.float32)


def pitch_shift(x: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Shift pitch, keep duration: phase-vocoder time stretch (torch) then soxr resampling.

    This is librosa's recipe without its numba start-up cost (~7-10 s per process) and without
    torchaudio's ``pitch_shift``, whose exact-ratio resampler takes minutes for fractional steps.
    The STFT here is internal to the transform; features are still computed by the front end.
    """
    import soxr
    import torch
    from torchaudio.functional import phase_vocoder

    y = np.asarray(x, dtype=np.float32)
    if semitones == 0 or y.size == 0:
        return y.copy()
    factor = 2.0 ** (semitones / 12.0)
    n_fft, hop = 512, 128
    window = torch.hann_window(n_fft)
    spec = torch.stft(torch.from_numpy(y), n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, np.pi * hop, spec.shape[-2])[..., None]
    stretched = phase_vocoder(spec, 1.0 / factor, advance)
    longer = torch.istft(stretched, n_fft, hop, window=window, length=int(round(len(y) * factor))).numpy()
    out = soxr.resample(longer.astype(np.float64), sample_rate * factor, sample_rate, quality="HQ")
    fixed = np.zeros(len(y), dtype=np.float32)
    fixed[: min(len(y), len(out))] = out[: len(y)]
    return fixed


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator, noise: np.ndarray | None = None) -> np.ndarray:
    """Add noise (white, or a given noise clip tiled/cropped) scaled so the SNR is exactly ``snr_db``."""
    signal_power = float(np.mean(np.square(x, dtype=np.float64)))
    if signal_power == 0:
        return x.astype(np.float32)
    if noise is None:
        n = rng.standard_normal(len(x))
    else:
        reps = int(np.ceil(len(x) / max(1, len(noise))))
        offset = int(rng.integers(0, max(1, len(noise))))
        n = np.tile(np.roll(np.asarray(noise, dtype=np.float64), -offset), reps)[: len(x)]
    noise_power = float(np.mean(n * n))
    if noise_power == 0:
        raise InvalidInput("noise clip is silent")
    n *= np.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (x + n).astype(np.float32)


def time_shift(x: np.ndarray, shift: int) -> np.ndarray:
    """Delay (positive) or advance (negative) by ``shift`` samples, zero-filled (not circular)."""
    n = len(x)
    out = np.zeros(n, dtype=np.float32)
    if abs(shift) >= n:
        return out
    if shift >= 0:
        out[shift:] = x[: n - shift]
    else:
        out[: n + shift] = x[-shift:]
    return out


def apply_gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    return (x * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def peak_normalise(x: np.ndarray, peak_dbfs: float = -1.0) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0:
        return x.astype(np.float32)
    return (x * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


def telephone(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Narrow-band telephone channel: 8 kHz, 300-3400 Hz band-pass, 8-bit mu-law, back to the input rate."""
    import soxr

    narrow = soxr.resample(x.astype(np.float64), sample_rate, 8000, quality="HQ")
    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=8000, output="sos")
    narrow = sosfiltfilt(sos, narrow)
    narrow = mu_law_decode(mu_law_encode(narrow))
    wide = soxr.resample(narrow, 8000, sample_rate, quality="HQ")
    out = np.zeros(len(x), dtype=np.float32)
    out[: min(len(x), len(wide))] = wide[: len(x)]
    return out


def mu_law_encode(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """[-1, 1] floats -> integer codes 0..mu (G.711-style companding, 8 bits)."""
    x = np.clip(x, -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.round((y + 1.0) / 2.0 * mu).astype(np.int64)


def mu_law_decode(codes: np.ndarray, mu: int = 255) -> np.ndarray:
    y = codes.astype(np.float64) / mu * 2.0 - 1.0
    return np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu


def mask_spectrogram(
    spec: np.ndarray,
    rng: np.random.Generator,
    n_time_masks: int,
    max_time_frames: int,
    n_freq_masks: int,
    max_freq_bands: int,
) -> np.ndarray:
    """SpecAugment time and frequency masks on a (bands, frames) array; masked cells = its mean."""
    out = np.array(spec, dtype=np.float32, copy=True)
    fill = float(out.mean())
    bands, frames = out.shape[-2], out.shape[-1]
    for _ in range(n_freq_masks):
        width = int(rng.integers(0, min(max_freq_bands, bands) + 1))
        start = int(rng.integers(0, bands - width + 1))
        out[..., start : start + width, :] = fill
    for _ in range(n_time_masks):
        width = int(rng.integers(0, min(max_time_frames, frames) + 1))
        start = int(rng.integers(0, frames - width + 1))
        out[..., start : start + width] = fill
    return out


# ----------------------------------------------------------------------------- configured pipeline
@dataclass(frozen=True)
class AugmentConfig:
    """Which transforms run, with what probability, over which ranges (``None`` range = off).

    Waveform order: speed, pitch, telephone, noise, shift, gain. Ranges are uniform draws.
    """

    sample_rate: int = 16000
    p: float = 0.5
    speed_range: tuple[float, float] | None = (0.9, 1.1)
    pitch_semitones: tuple[float, float] | None = None
    snr_db_range: tuple[float, float] | None = (10.0, 30.0)
    max_shift_s: float | None = 0.2
    gain_db_range: tuple[float, float] | None = (-6.0, 6.0)
    telephone_p: float = 0.0
    n_time_masks: int = 2
    max_time_mask_frames: int = 20
    n_freq_masks: int = 2
    max_freq_mask_bands: int = 12
    spec_p: float = 0.5

    def __post_init__(self) -> None:
        for name in ("p", "telephone_p", "spec_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"{name} must be a probability, got {value}")
        for name in ("speed_range", "pitch_semitones", "snr_db_range", "gain_db_range"):
            rng = getattr(self, name)
            if rng is not None and (len(rng) != 2 or rng[0] > rng[1]):
                raise SpecError(f"{name} must be (low, high) with low <= high, got {rng}")
        if self.speed_range is not None and self.speed_range[0] <= 0:
            raise SpecError(f"speed factors must be positive, got {self.speed_range}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hash(self) -> str:
        return config_hash(self.to_dict())


class Augmenter:
    """Seeded augmenter; one generator per instance, so a run is reproducible from the seed.

    Online: keep one ``Augmenter`` per data-loader worker, seeded from (run seed, worker id).
    Offline: ``Augmenter(config, seed=item_seed).waveform(x)`` for each copy ``oversample`` plans.
    """

    def __init__(self, config: AugmentConfig | None = None, seed: int = 0) -> None:
        self.config = config or AugmentConfig()
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def waveform(self, x: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        c, rng = self.config, self.rng
        y = np.asarray(x, dtype=np.float32)
        if y.ndim != 1:
            raise InvalidInput(f"expected a 1-D waveform, got shape {y.shape}")
        if y.size == 0:
            raise EmptyAudio("cannot augment an empty waveform")
        # Draw every random number whether or not the transform fires, so toggling one transform
        # does not reshuffle the draws of the others.
        fire = rng.random(5) < c.p
        speed = rng.uniform(*c.speed_range) if c.speed_range else 1.0
        semis = rng.uniform(*c.pitch_semitones) if c.pitch_semitones else 0.0
        snr = rng.uniform(*c.snr_db_range) if c.snr_db_range else 0.0
        max_shift = int((c.max_shift_s or 0.0) * c.sample_rate)
        shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift else 0
        gain = rng.uniform(*c.gain_db_range) if c.gain_db_range else 0.0
        phone = rng.random() < c.telephone_p
        noise_rng = np.random.default_rng(rng.integers(0, 2**63 - 1))
        if fire[0] and c.speed_range:
            y = change_speed(y, speed)
        if fire[1] and c.pitch_semitones:
            y = pitch_shift(y, c.sample_rate, semis)
        if phone:
            y = telephone(y, c.sample_rate)
        if fire[2] and c.snr_db_range:
            y = add_noise(y, snr, noise_rng, noise)
        if fire[3] and max_shift:
            y = time_shift(y, shift)
        if fire[4] and c.gain_db_range:
            y = apply_gain(y, gain)
        return y

    def spectrogram(self, spec: np.ndarray) -> np.ndarray:
        c, rng = self.config, self.rng
        fire = rng.random() < c.spec_p
        sub = np.random.default_rng(rng.integers(0, 2**63 - 1))
        if not fire:
            return np.asarray(spec, dtype=np.float32)
        return mask_spectrogram(spec, sub, c.n_time_masks, c.max_time_mask_frames, c.n_freq_masks, c.max_freq_mask_bands)


# ----------------------------------------------------------------------------- offline oversampling
def oversample(
    items: Sequence[T],
    labels: Sequence[Hashable],
    target_count: int | None = None,
    seed: int = 0,
    augment: Callable[[T, int], T] | None = None,
) -> tuple[list[T], list[Hashable], list[int | None]]:
    """Add augmented copies of minority-class items until each class has ``target_count``.

    Returns ``(items, labels, seeds)``: all originals first (seed ``None``), then the copies,
    each with the augmentation seed it was (or should be) made with. ``target_count`` defaults
    to the largest class; classes already at or above it are left as they are (undersampling is
    a separate choice). With ``augment=None`` copies are the original objects, to be augmented
    later with ``Augmenter(config, seed)``.
    """
    if len(items) != len(labels):
        raise InvalidInput(f"{len(items)} items but {len(labels)} labels")
    if not items:
        return [], [], []
    counts = Counter(labels)
    target = max(counts.values()) if target_count is None else int(target_count)
    rng = np.random.default_rng(seed)
    out_items: list[T] = list(items)
    out_labels: list[Hashable] = list(labels)
    seeds: list[int | None] = [None] * len(items)
    for label in sorted(counts, key=str):
        members = [i for i, lab in enumerate(labels) if lab == label]
        for _ in range(max(0, target - counts[label])):
            source = members[int(rng.integers(len(members)))]
            copy_seed = int(rng.integers(0, 2**31 - 1))
            item = items[source] if augment is None else augment(items[source], copy_seed)
            out_items.append(item)
            out_labels.append(label)
            seeds.append(copy_seed)
    return out_items, out_labels, seeds
