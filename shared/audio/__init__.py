"""Audio core: decode, channels, resample, loudness, VAD segments, streaming, and ``prepare``."""
from shared.audio.channels import DEFAULT_ROLES, MIXED_ROLE, channel_role, mixdown, roles_for, split_channels
from shared.audio.decode import AudioInfo, AudioLimits, RawPcmSpec, decode, probe
from shared.audio.loudness import loudness_lufs, loudness_normalize, peak_normalize
from shared.audio.pipeline import PreparedAudio, PrepareOptions, prepare
from shared.audio.resample import RESAMPLER, StreamResampler, resample, resample_array
from shared.audio.stream import iter_blocks, segment_file
from shared.audio.types import Audio, Segment
from shared.audio.vad import SileroVad, StreamingSegmenter, VadConfig, segment_audio

__all__ = [
    "Audio", "Segment", "AudioInfo", "AudioLimits", "RawPcmSpec", "decode", "probe",
    "DEFAULT_ROLES", "MIXED_ROLE", "channel_role", "mixdown", "roles_for", "split_channels",
    "RESAMPLER", "StreamResampler", "resample", "resample_array",
    "loudness_lufs", "loudness_normalize", "peak_normalize",
    "VadConfig", "SileroVad", "StreamingSegmenter", "segment_audio",
    "iter_blocks", "segment_file",
    "PrepareOptions", "PreparedAudio", "prepare",
]
