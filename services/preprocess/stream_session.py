"""One StreamPrepare call's state: PCM bytes in, closed speech segments out, in bounded memory.

Holds less than one PCM frame of leftover bytes, the resampler's filter state and each channel's
``StreamingSegmenter``; nothing grows with the length of the stream.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import soxr

from shared.audio.channels import mixdown, roles_for
from shared.audio.decode import AudioLimits, RawPcmSpec, decode
from shared.audio.resample import SOXR_QUALITY
from shared.audio.types import Segment
from shared.audio.vad import SileroVad, StreamingSegmenter, VadConfig
from shared.errors import AudioTooLong, AudioTooShort, EmptyAudio


class StreamSession:
    """Decode interleaved PCM chunks, optionally mix down, resample, and segment every channel."""

    def __init__(
        self,
        spec: RawPcmSpec,
        vad_config: VadConfig,
        vad: SileroVad,
        *,
        limits: AudioLimits,
        mix_down: bool = False,
        roles: Sequence[str] = (),
    ) -> None:
        self.spec, self.limits, self.mix_down = spec, limits, mix_down
        channels = 1 if mix_down else spec.channels
        self.roles = roles_for(channels, roles) if roles else roles_for(channels)
        # per-chunk decoding: size and duration are checked over the whole stream instead
        self._chunk_limits = AudioLimits(max_bytes=limits.max_bytes, max_seconds=math.inf, min_ms=0)
        self._rate = vad_config.sample_rate
        self._resampler = (
            None
            if spec.sample_rate == self._rate
            else soxr.ResampleStream(spec.sample_rate, self._rate, channels, dtype="float32", quality=SOXR_QUALITY)
        )
        self._segmenters = [
            StreamingSegmenter(vad, vad_config, channel=ch, speaker=self.roles[ch]) for ch in range(channels)
        ]
        self._pending = b""
        self.frames_received = 0
        self.segment_count = 0

    @property
    def received_ms(self) -> int:
        return int(self.frames_received * 1000 // self.spec.sample_rate)

    @property
    def duration_s(self) -> float:
        return self.frames_received / float(self.spec.sample_rate)

    def push(self, chunk: bytes) -> list[Segment]:
        """Add PCM bytes (frames may be split across chunks); return the segments that closed."""
        data = self._pending + chunk if self._pending else chunk
        usable = len(data) - len(data) % self.spec.frame_bytes
        self._pending = data[usable:]
        if usable == 0:
            return []
        audio = decode(data[:usable], raw=self.spec, limits=self._chunk_limits)
        self.frames_received += audio.num_samples
        if self.duration_s > self.limits.max_seconds:
            raise AudioTooLong(
                f"stream lasts over {self.limits.max_seconds:.1f} s, the limit for one recording"
            )
        if self.mix_down:
            audio = mixdown(audio)
        out = self._segment(audio.samples, last=False)
        self.segment_count += len(out)
        return out

    def flush(self) -> list[Segment]:
        """End of stream: close every open segment. Refuses a stream shorter than the minimum."""
        if self.frames_received == 0:
            raise EmptyAudio("stream carried no audio")
        if self.duration_s * 1000.0 < self.limits.min_ms:
            raise AudioTooShort(
                f"stream lasted {self.duration_s * 1000.0:.0f} ms, under the minimum of {self.limits.min_ms} ms"
            )
        out = self._segment(np.zeros((len(self._segmenters), 0), dtype=np.float32), last=True)
        for segmenter in self._segmenters:
            out += segmenter.flush()
        self.segment_count += len(out)
        return out

    def _segment(self, samples: np.ndarray, *, last: bool) -> list[Segment]:
        if self._resampler is not None:
            frames_first = self._resampler.resample_chunk(np.ascontiguousarray(samples.T), last=last)
            samples = np.ascontiguousarray(np.asarray(frames_first, dtype=np.float32).reshape(-1, samples.shape[0]).T)
        out: list[Segment] = []
        if samples.shape[1]:
            for ch, seg in enumerate(self._segmenters):
                out += seg.push(samples[ch])
        return out
