"""Speech segments from silero-vad, offline and streaming, with one segmentation rule for both.

The model is the TorchScript file shipped inside the ``silero-vad`` wheel (``load_silero_vad()``
reads it with importlib.resources; nothing touches the network). Silero's own wrapper keeps its
recurrent state inside the module, which makes one loaded model unusable by two streams at once.
Here the state (64-sample context + LSTM h/c) lives in a ``VadStream`` the caller owns, and the
stateless front (STFT + conv encoder) runs batched over many 32 ms windows while only the
128-unit LSTM runs in time order. That is the same arithmetic as silero's per-window call (a unit
test checks it) and several times faster.

Windows are 512 samples at 16 kHz (256 at 8 kHz), 32 ms. ``_SegmentRule`` turns the window
probabilities into segments the way silero's ``get_speech_timestamps`` does (hysteresis at
``threshold - 0.15``, silences shorter than ``min_silence_ms`` bridged, short segments dropped,
long ones split at the last pause or cut hard), but incrementally, so the offline path is just the
streaming path run over the whole signal.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from shared.audio.channels import DEFAULT_ROLES, MIXED_ROLE, mixdown, roles_for
from shared.audio.resample import resample, resample_array
from shared.audio.types import Audio, Segment

_WINDOW = {16000: 512, 8000: 256}
_BATCH_WINDOWS = 2048  # windows per batched forward: bounds memory (~5 MB of frames) on any length


@dataclass(frozen=True)
class VadConfig:
    """Segmentation settings. ``max_speech_ms`` bounds a segment *including* its padding."""

    threshold: float = 0.5
    min_speech_ms: int = 250
    max_speech_ms: int = 10000
    min_silence_ms: int = 300  # pauses shorter than this are bridged (the merge gap)
    pad_ms: int = 100
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if self.sample_rate not in _WINDOW:
            raise ValueError(f"silero-vad runs at 8000 or 16000 Hz, not {self.sample_rate}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if min(self.min_speech_ms, self.min_silence_ms, self.pad_ms) < 0:
            raise ValueError("min_speech_ms, min_silence_ms and pad_ms must be >= 0")
        if self.max_speech_ms - 2 * self.pad_ms < max(self.min_speech_ms, 1000 * self.window / self.sample_rate):
            raise ValueError(
                f"max_speech_ms ({self.max_speech_ms}) must exceed min_speech_ms ({self.min_speech_ms}) "
                f"plus twice pad_ms ({self.pad_ms})"
            )

    @property
    def window(self) -> int:
        return _WINDOW[self.sample_rate]


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class SileroVad:
    """The silero-vad network, loaded once from the installed wheel.

    Stateless between calls (state lives in ``VadStream``), so one instance can serve many
    threads and streams. It runs on CUDA when present; pass ``device="cpu"`` to keep it off the GPU.
    """

    def __init__(self, device: str | torch.device | None = None) -> None:
        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad  # silero_vad.model calls torch.set_num_threads(1) on import

        jit = load_silero_vad(onnx=False)
        torch.set_num_threads(threads)  # keep the caller's thread setting
        self.device = torch.device(device) if device is not None else _default_device()
        self._nets = {16000: jit._model, 8000: jit._model_8k}
        self._lstm: dict[int, torch.nn.LSTM] = {}
        for sr, net in self._nets.items():
            net.to(self.device).eval()
            cell = net.decoder.rnn
            lstm = torch.nn.LSTM(cell.weight_ih.shape[1], cell.weight_hh.shape[1], batch_first=True)
            with torch.no_grad():
                lstm.weight_ih_l0.copy_(cell.weight_ih)
                lstm.weight_hh_l0.copy_(cell.weight_hh)
                lstm.bias_ih_l0.copy_(cell.bias_ih)
                lstm.bias_hh_l0.copy_(cell.bias_hh)
            self._lstm[sr] = lstm.to(self.device).eval()

    @property
    def hidden_size(self) -> int:
        return self._lstm[16000].hidden_size

    def context_size(self, sample_rate: int) -> int:
        return int(self._nets[sample_rate].context_size_samples)

    def stream(self, channels: int = 1, sample_rate: int = 16000) -> VadStream:
        """A fresh recurrent state for ``channels`` parallel signals."""
        if sample_rate not in _WINDOW:
            raise ValueError(f"silero-vad runs at 8000 or 16000 Hz, not {sample_rate}")
        return VadStream(self, channels, sample_rate)

    @torch.inference_mode()
    def _forward(self, frames: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], sr: int):
        """frames (C, W, context+window) -> probs (C, W) and the LSTM state after the last window."""
        net = self._nets[sr]
        c, w, n = frames.shape
        feats = net.encoder(net.run_extractors(frames.reshape(c * w, n)))  # (C*W, hidden, 1)
        seq, (h, cell) = self._lstm[sr](feats.reshape(c, w, -1), (state[0][None], state[1][None]))
        out = net.decoder.decoder(seq.reshape(c * w, -1, 1))  # (C*W, 1, 1) after the sigmoid
        return out.reshape(c, w), (h[0], cell[0])

    def speech_probs(self, x16k: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
        """Speech probability per window: (n,) -> (ceil(n/512),), (C, n) -> (C, ceil(n/512)).

        The last partial window is zero-padded.
        """
        x = np.asarray(x16k, dtype=np.float32)
        squeeze = x.ndim == 1
        x2 = x[None, :] if squeeze else x
        stream = self.stream(x2.shape[0], sample_rate)
        win = _WINDOW[sample_rate]
        pad = (-x2.shape[1]) % win
        probs = stream.process(np.pad(x2, ((0, 0), (0, pad))) if pad else x2)
        return probs[0] if squeeze else probs

    def segments(self, x: np.ndarray, sr: int, config: VadConfig = VadConfig()) -> list[tuple[int, int]]:
        """Speech segments of a 1-D signal as (start_ms, end_ms), padded, split, merged."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"segments() takes one channel (n,), got shape {x.shape}")
        x = resample_array(x, sr, config.sample_rate)
        rule = _SegmentRule(config)
        rule.limit_samples = x.shape[0]
        return rule.feed(self.speech_probs(x, config.sample_rate)) + rule.finish()


class VadStream:
    """Recurrent state for C parallel signals; feed whole windows, in order, through ``process``."""

    def __init__(self, vad: SileroVad, channels: int, sample_rate: int) -> None:
        self.vad, self.channels, self.sample_rate = vad, channels, sample_rate
        self.window = _WINDOW[sample_rate]
        self._context = np.zeros((channels, vad.context_size(sample_rate)), dtype=np.float32)
        zeros = torch.zeros(channels, vad.hidden_size, device=vad.device)
        self._state = (zeros, zeros.clone())

    def process(self, x: np.ndarray) -> np.ndarray:
        """(C, k*window) samples -> (C, k) speech probabilities."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self.channels or x.shape[1] % self.window:
            raise ValueError(f"expected ({self.channels}, k*{self.window}) samples, got {x.shape}")
        out = []
        step = _BATCH_WINDOWS * self.window
        for a in range(0, x.shape[1], step):
            block = np.concatenate([self._context, x[:, a : a + step]], axis=1)
            ctx = self._context.shape[1]
            frames = np.lib.stride_tricks.sliding_window_view(block, ctx + self.window, axis=1)[:, :: self.window]
            t = torch.from_numpy(np.array(frames, dtype=np.float32, order="C")).to(self.vad.device)
            probs, self._state = self.vad._forward(t, self._state, self.sample_rate)
            out.append(probs.float().cpu().numpy())
            self._context = block[:, -ctx:].copy()
        if not out:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return np.concatenate(out, axis=1)


class _SegmentRule:
    """Window probabilities -> padded segments in ms, one window at a time (bounded state)."""

    def __init__(self, config: VadConfig) -> None:
        self.cfg = config
        self.win = config.window
        self.sr = config.sample_rate
        win_ms = 1000.0 * self.win / self.sr
        self.neg = max(config.threshold - 0.15, 0.01)
        self.min_silence_w = max(1, math.ceil(config.min_silence_ms / win_ms))
        self.max_speech_w = max(1, math.floor((config.max_speech_ms - 2 * config.pad_ms) / win_ms))
        self.pad = config.pad_ms
        self.i = 0  # index of the next window
        self.triggered = False
        self.start = 0
        self.start_is_split = False
        self.quiet_start: int | None = None
        self.dip: int | None = None
        self.last_end_ms = 0
        self.limit_samples: int | None = None  # set once the signal length is known (its last window is padded)

    def _ms(self, window_index: int) -> int:
        samples = window_index * self.win
        if self.limit_samples is not None:
            samples = min(samples, self.limit_samples)
        return int(round(samples * 1000 / self.sr))

    def _emit(self, start: int, end: int, *, split_end: bool, seen_ms: int) -> list[tuple[int, int]]:
        s_ms, e_ms = self._ms(start), self._ms(end)
        split_start, self.start_is_split = self.start_is_split, split_end
        if e_ms - s_ms < self.cfg.min_speech_ms:
            return []
        a = s_ms if split_start else max(s_ms - self.pad, self.last_end_ms, 0)
        b = e_ms if split_end else min(e_ms + self.pad, seen_ms)
        self.last_end_ms = b
        return [(a, b)]

    def feed(self, probs: np.ndarray) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for p in np.asarray(probs, dtype=np.float32).tolist():
            out += self._step(p)
        return out

    def _step(self, p: float) -> list[tuple[int, int]]:
        i = self.i
        self.i += 1
        seen_ms = self._ms(self.i)
        if not self.triggered:
            if p >= self.cfg.threshold:
                self.triggered, self.start, self.quiet_start, self.dip = True, i, None, None
            return []
        if p >= self.cfg.threshold:
            if self.quiet_start is not None:
                self.dip = (self.quiet_start + i) // 2  # middle of the bridged pause: the split candidate
                self.quiet_start = None
        elif p < self.neg and self.quiet_start is None:
            self.quiet_start = i
        if self.quiet_start is not None and i + 1 - self.quiet_start >= self.min_silence_w:
            self.triggered = False
            return self._emit(self.start, self.quiet_start, split_end=False, seen_ms=seen_ms)
        if i + 1 - self.start < self.max_speech_w:
            return []
        if self.quiet_start is not None:  # too long, but already pausing: end here
            self.triggered = False
            return self._emit(self.start, self.quiet_start, split_end=False, seen_ms=seen_ms)
        cut = self.dip if self.dip is not None and self.dip > self.start else i + 1
        out = self._emit(self.start, cut, split_end=True, seen_ms=seen_ms)
        self.start, self.dip = cut, None
        return out

    def finish(self) -> list[tuple[int, int]]:
        """Close an open segment at the end of the signal."""
        if not self.triggered:
            return []
        self.triggered = False
        end = self.quiet_start if self.quiet_start is not None else self.i
        return self._emit(self.start, end, split_end=False, seen_ms=self._ms(self.i))


class StreamingSegmenter:
    """Push audio chunks (1-D, at ``config.sample_rate``) of any size; get segments as they close.

    State is bounded: under one window of leftover samples, the model context and LSTM state, and
    the open segment's bookkeeping. A segment closes ``min_silence_ms`` after its speech ends.
    """

    def __init__(self, vad: SileroVad, config: VadConfig = VadConfig(), channel: int = 0, speaker: str = "") -> None:
        self.config, self.channel, self.speaker = config, channel, speaker
        self._stream = vad.stream(1, config.sample_rate)
        self._rule = _SegmentRule(config)
        self._left = np.zeros(0, dtype=np.float32)
        self._total = 0

    def _segments(self, spans: list[tuple[int, int]]) -> list[Segment]:
        return [Segment(channel=self.channel, start_ms=a, end_ms=b, speaker=self.speaker) for a, b in spans]

    def push(self, chunk: np.ndarray) -> list[Segment]:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        self._total += chunk.shape[0]
        buf = np.concatenate([self._left, chunk]) if self._left.size else chunk
        win = self.config.window
        k = buf.shape[0] // win * win
        self._left = buf[k:].copy()
        if k == 0:
            return []
        probs = self._stream.process(buf[None, :k])[0]
        return self._segments(self._rule.feed(probs))

    def flush(self) -> list[Segment]:
        """End of stream: score the zero-padded tail and close any open segment."""
        spans: list[tuple[int, int]] = []
        self._rule.limit_samples = self._total
        if self._left.size:
            tail = np.pad(self._left, (0, self.config.window - self._left.size))
            spans += self._rule.feed(self._stream.process(tail[None, :])[0])
            self._left = np.zeros(0, dtype=np.float32)
        spans += self._rule.finish()
        return self._segments(spans)


def segment_audio(
    audio: Audio,
    config: VadConfig,
    vad: SileroVad,
    *,
    keep_channels: bool = True,
    roles: Sequence[str] = DEFAULT_ROLES,
) -> list[Segment]:
    """Segments of every channel (speaker = role name), or of the mixdown (speaker ``mixed``).

    Sorted by start time, then channel.
    """
    if not keep_channels:
        audio = mixdown(audio)
    audio = resample(audio, config.sample_rate)
    names = roles_for(audio.num_channels, roles)
    x = audio.samples
    probs = vad.speech_probs(x, config.sample_rate)
    out: list[Segment] = []
    for ch in range(x.shape[0]):
        rule = _SegmentRule(config)
        rule.limit_samples = x.shape[1]
        spans = rule.feed(probs[ch]) + rule.finish()
        out += [Segment(channel=ch, start_ms=a, end_ms=b, speaker=names[ch]) for a, b in spans]
    return sorted(out, key=lambda s: (s.start_ms, s.channel))


__all__ = ["VadConfig", "SileroVad", "VadStream", "StreamingSegmenter", "segment_audio", "MIXED_ROLE"]
