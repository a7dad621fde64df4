"""The audio an AnalyzeStream has received: recent frames for cutting closed segments, and when each chunk arrived.

Bounded: only the last ``KEEP_S`` seconds of frames are kept (segments are at most the VAD's
``max_speech_ms`` long, 10 s by default, so a closed segment always lies inside), plus one
(received_ms, arrival time) pair per chunk for latency.
"""
from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque

import numpy as np

from shared.audio.channels import mixdown
from shared.audio.decode import AudioLimits, RawPcmSpec, decode
from shared.audio.types import Audio

KEEP_S = 120.0


class StreamAudio:
    def __init__(self, spec: RawPcmSpec, *, max_bytes: int, mix_down: bool) -> None:
        self.spec = spec
        self.mix_down = mix_down
        self._limits = AudioLimits(max_bytes=max_bytes, max_seconds=math.inf, min_ms=0)
        self._lock = threading.Lock()
        self._pending = b""
        self._chunks: deque[tuple[int, np.ndarray]] = deque()  # (absolute first frame, (channels, n))
        self._kept = 0          # frames held in _chunks
        self.received = 0       # frames received
        self._arrivals_ms: list[int] = []
        self._arrivals_t: list[float] = []

    @property
    def received_ms(self) -> int:
        return int(self.received * 1000 // self.spec.sample_rate)

    def add(self, chunk: bytes) -> None:
        """Decode a chunk (frames may straddle chunks) and note when it arrived."""
        arrived = time.perf_counter()
        with self._lock:
            data = self._pending + chunk
            usable = len(data) - len(data) % self.spec.frame_bytes
            self._pending = data[usable:]
            if usable:
                samples = decode(data[:usable], raw=self.spec, limits=self._limits).samples
                self._chunks.append((self.received, samples))
                self.received += samples.shape[1]
                self._kept += samples.shape[1]
                while len(self._chunks) > 1 and self._kept - self._chunks[0][1].shape[1] >= KEEP_S * self.spec.sample_rate:
                    self._kept -= self._chunks.popleft()[1].shape[1]
            self._arrivals_ms.append(self.received_ms)
            self._arrivals_t.append(arrived)

    def arrival_of(self, received_ms: int) -> float:
        """perf_counter time of the chunk that brought the audio up to ``received_ms``."""
        with self._lock:
            i = bisect.bisect_left(self._arrivals_ms, received_ms)
            return self._arrivals_t[min(i, len(self._arrivals_t) - 1)] if self._arrivals_t else time.perf_counter()

    def cut(self, channel: int, start_ms: int, end_ms: int) -> np.ndarray:
        """Mono float32 samples of [start_ms, end_ms) at the source rate (mixed down when the stream is)."""
        rate = self.spec.sample_rate
        a, b = start_ms * rate // 1000, end_ms * rate // 1000
        with self._lock:
            parts = [chunk[:, max(0, a - first) : max(0, b - first)]
                     for first, chunk in self._chunks if first < b and first + chunk.shape[1] > a]
        frames = np.concatenate(parts, axis=1) if parts else np.zeros((self.spec.channels, 0), np.float32)
        if self.mix_down:
            return mixdown(Audio(samples=frames, sample_rate=rate)).samples[0].astype(np.float32)
        return np.ascontiguousarray(frames[channel], dtype=np.float32)
