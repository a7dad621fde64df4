"""Speaker encoders behind one interface; the default is resemblyzer's pretrained GE2E (256-d).

The GE2E weights ship inside the ``resemblyzer`` wheel (``resemblyzer/pretrained.pt``); they are
read with ``torch.load(weights_only=True)`` into our own copy of its network (3-layer LSTM 40->256,
linear 256, ReLU, L2 norm), so nothing is downloaded and no pickle code runs. Preprocessing is
resemblyzer's: volume normalised to -30 dBFS (increase only), long silences trimmed with
webrtcvad, then 40-band mel power frames (25 ms Hann, 10 ms hop) computed by our
``LogMelFrontEnd`` with the encoder's own config (the encoder was trained on those, not on the
emotion models' log-mels). An utterance is cut into 1.6 s partials at 1.3 per second; the
embedding is the L2-normalised mean of the partial embeddings (resemblyzer's ``embed_utterance``),
but all partials of a batch of utterances go through the LSTM in one forward pass.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from shared.errors import EmptyAudio, InvalidInput, NonFiniteAudio, NotFound, SpecError
from shared.features.config import LogMelConfig
from shared.features.logmel import LogMelFrontEnd, default_device

SAMPLE_RATE = 16000
GE2E_INPUT = LogMelConfig(n_fft=400, n_mels=40, window="hann", log="none", top_db=None)
GE2E_PARTIAL_FRAMES = 160


@runtime_checkable
class SpeakerEncoder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, x16k: np.ndarray) -> np.ndarray: ...

    def embed_batch(self, clips: Sequence[np.ndarray]) -> np.ndarray: ...


class Ge2eNet(nn.Module):
    """The GE2E speaker network, same parameter names as resemblyzer's ``VoiceEncoder``."""

    def __init__(self, n_mels: int = 40, hidden: int = 256, layers: int = 3, dim: int = 256) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_mels, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, dim)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """(B, frames, n_mels) mel power -> (B, dim) non-negative unit vectors."""
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-12)


def resemblyzer_weights_path() -> Path:
    import resemblyzer

    path = Path(resemblyzer.__file__).resolve().parent / "pretrained.pt"
    if not path.is_file():
        raise NotFound(f"resemblyzer is installed but its GE2E weights are missing at {path}")
    return path


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a .pt/.pth read with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"speaker encoder weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, dict) and "model_state" in checkpoint:
        checkpoint = checkpoint["model_state"]
    if not isinstance(checkpoint, dict):
        raise SpecError(f"{path} does not hold a state dict")
    return checkpoint


def _check_clip(x: np.ndarray, index: int = 0) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 1:
        raise InvalidInput(f"clip {index}: expected a 1-D 16 kHz waveform, got shape {a.shape}")
    if a.size == 0:
        raise EmptyAudio(f"clip {index}: 0 samples")
    if not np.isfinite(a).all():
        raise NonFiniteAudio(f"clip {index}: contains NaN or Inf")
    return a


class Ge2eEncoder:
    """GE2E embeddings (256-d, unit norm). ``weights_path`` defaults to the one inside resemblyzer."""

    name = "ge2e-resemblyzer"

    def __init__(
        self,
        device: str | torch.device | None = None,
        weights_path: Path | str | None = None,
        trim_silence: bool = True,
        rate: float = 1.3,
        min_coverage: float = 0.75,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.weights_path = Path(weights_path) if weights_path else resemblyzer_weights_path()
        self.net = Ge2eNet()
        state = load_state_dict(self.weights_path)
        wanted = {k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}
        missing, _ = self.net.load_state_dict(wanted, strict=False)
        if missing:
            raise SpecError(f"{self.weights_path} lacks GE2E parameters {missing}")
        self.net.to(self.device).eval()
        self.frontend = LogMelFrontEnd(GE2E_INPUT, device=self.device)
        self.trim_silence = trim_silence
        self.rate = rate
        self.min_coverage = min_coverage

    @property
    def dim(self) -> int:
        return 256

    def embed(self, x16k: np.ndarray) -> np.ndarray:
        return self.embed_batch([x16k])[0]

    def embed_batch(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        if len(clips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        from resemblyzer import VoiceEncoder

        padded, slices = [], []
        for i, clip in enumerate(clips):
            wav = self.preprocess(_check_clip(clip, i))
            wav_slices, mel_slices = VoiceEncoder.compute_partial_slices(len(wav), self.rate, self.min_coverage)
            stop = wav_slices[-1].stop
            padded.append(np.pad(wav, (0, max(0, stop - len(wav)))))
            slices.append(mel_slices)
        mels = self.frontend.compute_many(padded)
        partials, owner = [], []
        for i, (mel, mel_slices) in enumerate(zip(mels, slices, strict=True)):
            frames = mel.T  # (frames, 40)
            for s in mel_slices:
                partials.append(frames[s])
                owner.append(i)
        batch = torch.from_numpy(np.stack(partials)).to(self.device)
        with torch.inference_mode():
            partial_embeds = self.net(batch).cpu().numpy()
        out = np.zeros((len(clips), self.dim), dtype=np.float32)
        np.add.at(out, np.asarray(owner), partial_embeds)
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)

    def preprocess(self, wav: np.ndarray) -> np.ndarray:
        """resemblyzer's preprocessing; keeps the untrimmed clip when VAD leaves under 0.1 s."""
        from resemblyzer.audio import normalize_volume, trim_long_silences

        wav = normalize_volume(wav, -30, increase_only=True).astype(np.float32)
        if self.trim_silence:
            trimmed = trim_long_silences(wav)
            if len(trimmed) >= SAMPLE_RATE // 10:
                wav = trimmed.astype(np.float32)
        return wav


class LocalTorchEncoder:
    """A user's local speaker-encoder weights (safetensors, or .pt read with ``weights_only``).

    Without ``module`` the weights are loaded into the GE2E architecture (e.g. a fine-tuned GE2E)
    and used exactly like ``Ge2eEncoder``. With ``module`` (any ``nn.Module`` mapping
    ``(1, frames, n_features)`` log-mels from ``frontend_config`` to ``(1, dim)``) the weights are
    loaded into it and each clip is embedded whole, then L2-normalised.
    """

    def __init__(
        self,
        weights_path: Path | str,
        module: nn.Module | None = None,
        frontend_config: LogMelConfig | None = None,
        dim: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.weights_path = Path(weights_path)
        self.name = f"local:{self.weights_path.name}"
        self.device = torch.device(device) if device is not None else default_device()
        if module is None:
            self._ge2e: Ge2eEncoder | None = Ge2eEncoder(device=self.device, weights_path=self.weights_path)
            self._dim = self._ge2e.dim
            return
        if dim is None or frontend_config is None:
            raise SpecError("a custom module needs its output dim and its frontend_config")
        self._ge2e = None
        self._dim = int(dim)
        self.module = module
        self.module.load_state_dict(load_state_dict(self.weights_path))
        self.module.to(self.device).eval()
        self.frontend = LogMelFrontEnd(frontend_config, device=self.device)

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, x16k: np.ndarray) -> np.ndarray:
        return self.embed_batch([x16k])[0]

    def embed_batch(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        if self._ge2e is not None:
            return self._ge2e.embed_batch(clips)
        feats = self.frontend.compute_many([_check_clip(c, i) for i, c in enumerate(clips)])
        out = np.zeros((len(clips), self._dim), dtype=np.float32)
        with torch.inference_mode():
            for i, f in enumerate(feats):
                e = self.module(torch.from_numpy(f.T[None]).to(self.device)).reshape(-1).cpu().numpy()
                if e.shape != (self._dim,):
                    raise SpecError(f"module returned shape {e.shape}, expected ({self._dim},)")
                out[i] = e / max(float(np.linalg.norm(e)), 1e-12)
        return out


def load_encoder(name_or_path: str | Path, device: str | torch.device | None = None) -> SpeakerEncoder:
    """``"ge2e"`` / ``"resemblyzer"`` -> the packaged GE2E; a weights file path -> ``LocalTorchEncoder``."""
    key = str(name_or_path)
    if key.lower() in ("ge2e", "resemblyzer", Ge2eEncoder.name):
        return Ge2eEncoder(device=device)
    path = Path(key)
    if path.suffix in (".safetensors", ".pt", ".pth"):
        return LocalTorchEncoder(path, device=device)
    raise NotFound(f"unknown speaker encoder {key!r}: use 'ge2e' or a .safetensors/.pt weights path")
