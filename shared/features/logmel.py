"""The one log-mel front end: batched torch STFT -> mel -> log, on the GPU when there is one.

Training, augmentation, the feature service and inference all call this class, so a model sees
the same numbers at train and serve time. It matches ``librosa.feature.melspectrogram`` +
``power_to_db`` of the same config (tests: max |diff| <= 0.02 dB over frames within ``top_db`` of
the peak).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from shared.errors import EmptyAudio, InvalidInput, NonFiniteAudio
from shared.features.config import LogMelConfig, mel_filterbank

# Samples per STFT call. On a GPU big batches are the point. On a CPU one thread gains nothing
# from batching and a large complex STFT falls out of cache: measured on 60 real clips, one clip
# per call ran at ~1600 s of audio/s, 30 s batches at ~1150, 600 s batches at ~350. So the CPU
# cap only groups short segments (a few seconds) to save per-call overhead.
_MAX_BATCH_SAMPLES = {"cuda": 16000 * 600, "cpu": 16000 * 4}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class LogMelFrontEnd:
    """``frontend(waveforms (B, T)) -> (B, n_features, frames)``; ``compute_many`` for ragged lists.

    Inputs are float waveforms at ``config.sample_rate`` (resampling is the audio core's job).
    ``n_features`` is ``n_mels * (1 + deltas)``: deltas are stacked below the static bands.
    """

    def __init__(
        self,
        config: LogMelConfig | None = None,
        device: str | torch.device | None = None,
        max_batch_samples: int | None = None,
    ) -> None:
        self.config = config or LogMelConfig()
        self.device = torch.device(device) if device is not None else default_device()
        if max_batch_samples is None:
            max_batch_samples = _MAX_BATCH_SAMPLES.get(self.device.type, _MAX_BATCH_SAMPLES["cpu"])
        self.max_batch_samples = int(max_batch_samples)
        c = self.config
        make_window = torch.hamming_window if c.window == "hamming" else torch.hann_window
        # periodic=True is scipy's get_window(..., fftbins=True), which librosa uses.
        self._window = make_window(c.win_length, periodic=True, dtype=torch.float32, device=self.device)
        self._mel = torch.from_numpy(mel_filterbank(c)).to(device=self.device, dtype=torch.float32)

    @property
    def config_hash(self) -> str:
        return self.config.hash()

    def __call__(self, waveforms: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = self._to_batch(waveforms)
        return self._finish(self.mel_power(x))

    def compute_many(self, waveforms: Sequence[np.ndarray], sample_rate: int | None = None) -> list[np.ndarray]:
        """Log-mel for clips of different lengths; each result is (n_features, num_frames(len)).

        Clips are sorted by length and zero-padded into batches of at most ``max_batch_samples``.
        With ``pad_mode="constant"`` the padding equals the STFT's own edge padding, so a clip's
        frames are identical whether computed alone or in a batch; with ``"reflect"`` only clips of
        equal length share a batch.
        """
        if sample_rate is not None and sample_rate != self.config.sample_rate:
            raise InvalidInput(
                f"audio at {sample_rate} Hz but the front end expects {self.config.sample_rate} Hz; resample first"
            )
        arrays = [self._check_1d(w, i) for i, w in enumerate(waveforms)]
        results: list[np.ndarray | None] = [None] * len(arrays)
        for batch in self._batches([len(a) for a in arrays]):
            longest = max(len(arrays[i]) for i in batch)
            padded = np.zeros((len(batch), longest), dtype=np.float32)
            for row, i in enumerate(batch):
                padded[row, : len(arrays[i])] = arrays[i]
            power = self.mel_power(torch.from_numpy(padded).to(self.device))
            for row, i in enumerate(batch):
                frames = self.config.num_frames(len(arrays[i]))
                out = self._finish(power[row : row + 1, :, :frames])
                results[i] = out[0].cpu().numpy()
        return [r for r in results if r is not None]

    def mel_power(self, x: torch.Tensor) -> torch.Tensor:
        """Mel-filtered |STFT|^power, (B, n_mels, frames), before any log."""
        c = self.config
        spec = torch.stft(
            x,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            win_length=c.win_length,
            window=self._window,
            center=c.center,
            pad_mode=c.pad_mode,
            return_complex=True,
        )
        if c.power == 2.0:
            mag = spec.real.square() + spec.imag.square()
        else:
            mag = spec.abs()
        return torch.matmul(self._mel, mag)

    def _finish(self, mel: torch.Tensor) -> torch.Tensor:
        """Log, top_db floor, deltas, per-utterance normalisation; every step is per utterance."""
        c = self.config
        if c.log == "db":
            scale = 20.0 / c.power
            out = scale * torch.log10(torch.clamp(mel, min=c.amin ** (c.power / 2.0)))
            if c.top_db is not None:
                peak = out.amax(dim=(1, 2), keepdim=True)
                out = torch.maximum(out, peak - c.top_db)
        elif c.log == "ln":
            out = torch.log(mel + c.amin)
        else:
            out = mel
        if c.deltas:
            d1 = deltas(out)
            parts = [out, d1] if c.deltas == 1 else [out, d1, deltas(d1)]
            out = torch.cat(parts, dim=1)
        if c.per_utterance_norm:
            mean = out.mean(dim=2, keepdim=True)
            std = out.std(dim=2, keepdim=True, unbiased=False)
            out = (out - mean) / (std + 1e-5)
        return out

    def _to_batch(self, waveforms: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(waveforms)
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if x.ndim != 2:
            raise InvalidInput(f"expected waveforms of shape (B, T) or (T,), got {tuple(x.shape)}")
        if x.shape[-1] == 0:
            raise EmptyAudio("empty waveform: 0 samples")
        x = x.to(device=self.device, dtype=torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteAudio("waveform contains NaN or Inf")
        return x

    @staticmethod
    def _check_1d(w: np.ndarray, index: int) -> np.ndarray:
        a = np.asarray(w, dtype=np.float32)
        if a.ndim != 1:
            raise InvalidInput(f"clip {index}: expected a 1-D waveform, got shape {a.shape}")
        if a.size == 0:
            raise EmptyAudio(f"clip {index}: 0 samples")
        if not np.isfinite(a).all():
            raise NonFiniteAudio(f"clip {index}: contains NaN or Inf")
        return a

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            same_length_only = self.config.pad_mode != "constant"
            candidate_len = lengths[i] * (len(current) + 1)  # sorted, so lengths[i] is the batch max
            if current and (
                candidate_len > self.max_batch_samples or (same_length_only and lengths[current[0]] != lengths[i])
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches


def deltas(features: torch.Tensor, width: int = 2) -> torch.Tensor:
    """HTK regression deltas over the last axis, edges replicated (same as torchaudio's)."""
    frames = features.shape[-1]
    left = features[..., :1].expand(*features.shape[:-1], width)
    right = features[..., -1:].expand(*features.shape[:-1], width)
    padded = torch.cat([left, features, right], dim=-1)
    acc = torch.zeros_like(features)
    for k in range(1, width + 1):
        acc = acc + k * (padded[..., width + k : width + k + frames] - padded[..., width - k : width - k + frames])
    return acc / (2.0 * sum(k * k for k in range(1, width + 1)))
