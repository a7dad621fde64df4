from ser.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Normalization(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NORMALIZATION_UNSPECIFIED: _ClassVar[Normalization]
    NORMALIZATION_NONE: _ClassVar[Normalization]
    NORMALIZATION_PEAK: _ClassVar[Normalization]
    NORMALIZATION_LOUDNESS: _ClassVar[Normalization]
NORMALIZATION_UNSPECIFIED: Normalization
NORMALIZATION_NONE: Normalization
NORMALIZATION_PEAK: Normalization
NORMALIZATION_LOUDNESS: Normalization

class VadOptions(_message.Message):
    __slots__ = ("threshold", "min_speech_ms", "max_speech_ms", "min_silence_ms", "pad_ms")
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    PAD_MS_FIELD_NUMBER: _ClassVar[int]
    threshold: float
    min_speech_ms: int
    max_speech_ms: int
    min_silence_ms: int
    pad_ms: int
    def __init__(self, threshold: _Optional[float] = ..., min_speech_ms: _Optional[int] = ..., max_speech_ms: _Optional[int] = ..., min_silence_ms: _Optional[int] = ..., pad_ms: _Optional[int] = ...) -> None: ...

class PrepareOptions(_message.Message):
    __slots__ = ("mix_down", "normalization", "vad", "target_rate_hz", "return_audio", "channel_roles")
    MIX_DOWN_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    VAD_FIELD_NUMBER: _ClassVar[int]
    TARGET_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    RETURN_AUDIO_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ROLES_FIELD_NUMBER: _ClassVar[int]
    mix_down: bool
    normalization: Normalization
    vad: VadOptions
    target_rate_hz: int
    return_audio: bool
    channel_roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, mix_down: _Optional[bool] = ..., normalization: _Optional[_Union[Normalization, str]] = ..., vad: _Optional[_Union[VadOptions, _Mapping]] = ..., target_rate_hz: _Optional[int] = ..., return_audio: _Optional[bool] = ..., channel_roles: _Optional[_Iterable[str]] = ...) -> None: ...

class PrepareRequest(_message.Message):
    __slots__ = ("audio", "options", "request_id")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    audio: _common_pb2.AudioPayload
    options: PrepareOptions
    request_id: str
    def __init__(self, audio: _Optional[_Union[_common_pb2.AudioPayload, _Mapping]] = ..., options: _Optional[_Union[PrepareOptions, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class PrepareResponse(_message.Message):
    __slots__ = ("request_id", "segments", "source_rate_hz", "source_channels", "duration_s", "sample_rate_hz", "roles", "audio")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    SOURCE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.Segment]
    source_rate_hz: int
    source_channels: int
    duration_s: float
    sample_rate_hz: int
    roles: _containers.RepeatedScalarFieldContainer[str]
    audio: _common_pb2.Tensor
    def __init__(self, request_id: _Optional[str] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.Segment, _Mapping]]] = ..., source_rate_hz: _Optional[int] = ..., source_channels: _Optional[int] = ..., duration_s: _Optional[float] = ..., sample_rate_hz: _Optional[int] = ..., roles: _Optional[_Iterable[str]] = ..., audio: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ...) -> None: ...

class StreamPrepareConfig(_message.Message):
    __slots__ = ("format", "options", "request_id")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    format: _common_pb2.PcmFormat
    options: PrepareOptions
    request_id: str
    def __init__(self, format: _Optional[_Union[_common_pb2.PcmFormat, _Mapping]] = ..., options: _Optional[_Union[PrepareOptions, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class StreamPrepareRequest(_message.Message):
    __slots__ = ("config", "chunk")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    config: StreamPrepareConfig
    chunk: bytes
    def __init__(self, config: _Optional[_Union[StreamPrepareConfig, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class StreamPrepareSummary(_message.Message):
    __slots__ = ("duration_s", "segment_count", "roles")
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    segment_count: int
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, duration_s: _Optional[float] = ..., segment_count: _Optional[int] = ..., roles: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamPrepareResponse(_message.Message):
    __slots__ = ("segment", "summary", "received_ms")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_MS_FIELD_NUMBER: _ClassVar[int]
    segment: _common_pb2.Segment
    summary: StreamPrepareSummary
    received_ms: int
    def __init__(self, segment: _Optional[_Union[_common_pb2.Segment, _Mapping]] = ..., summary: _Optional[_Union[StreamPrepareSummary, _Mapping]] = ..., received_ms: _Optional[int] = ...) -> None: ...
