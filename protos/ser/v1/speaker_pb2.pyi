from ser.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbedMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMBED_MODE_UNSPECIFIED: _ClassVar[EmbedMode]
    EMBED_MODE_PER_SEGMENT: _ClassVar[EmbedMode]
    EMBED_MODE_PER_CHANNEL: _ClassVar[EmbedMode]
EMBED_MODE_UNSPECIFIED: EmbedMode
EMBED_MODE_PER_SEGMENT: EmbedMode
EMBED_MODE_PER_CHANNEL: EmbedMode

class EmbedRequest(_message.Message):
    __slots__ = ("audio", "segments", "mode", "encoder", "projection", "id")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    audio: _common_pb2.AudioPayload
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.Segment]
    mode: EmbedMode
    encoder: _common_pb2.ModelRef
    projection: _common_pb2.ModelRef
    id: str
    def __init__(self, audio: _Optional[_Union[_common_pb2.AudioPayload, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.Segment, _Mapping]]] = ..., mode: _Optional[_Union[EmbedMode, str]] = ..., encoder: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., projection: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., id: _Optional[str] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("segment", "channel", "vector", "speech_ms", "error")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    segment: _common_pb2.Segment
    channel: int
    vector: _common_pb2.Tensor
    speech_ms: float
    error: _common_pb2.ErrorDetail
    def __init__(self, segment: _Optional[_Union[_common_pb2.Segment, _Mapping]] = ..., channel: _Optional[int] = ..., vector: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., speech_ms: _Optional[float] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("id", "embeddings", "encoder", "projection", "dim")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    id: str
    embeddings: _containers.RepeatedCompositeFieldContainer[Embedding]
    encoder: _common_pb2.ModelRef
    projection: _common_pb2.ModelRef
    dim: int
    def __init__(self, id: _Optional[str] = ..., embeddings: _Optional[_Iterable[_Union[Embedding, _Mapping]]] = ..., encoder: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., projection: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., dim: _Optional[int] = ...) -> None: ...

class EmbedBatchRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[EmbedRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[EmbedRequest, _Mapping]]] = ...) -> None: ...

class EmbedBatchResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[EmbedResponse]
    def __init__(self, items: _Optional[_Iterable[_Union[EmbedResponse, _Mapping]]] = ...) -> None: ...

class DiarizeConfig(_message.Message):
    __slots__ = ("format", "speech", "num_speakers", "max_speakers", "roles", "first_speaker_role", "skip_overlap", "request_id")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SPEECH_FIELD_NUMBER: _ClassVar[int]
    NUM_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    FIRST_SPEAKER_ROLE_FIELD_NUMBER: _ClassVar[int]
    SKIP_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    format: _common_pb2.PcmFormat
    speech: _containers.RepeatedCompositeFieldContainer[_common_pb2.Segment]
    num_speakers: int
    max_speakers: int
    roles: _containers.RepeatedScalarFieldContainer[str]
    first_speaker_role: str
    skip_overlap: bool
    request_id: str
    def __init__(self, format: _Optional[_Union[_common_pb2.PcmFormat, _Mapping]] = ..., speech: _Optional[_Iterable[_Union[_common_pb2.Segment, _Mapping]]] = ..., num_speakers: _Optional[int] = ..., max_speakers: _Optional[int] = ..., roles: _Optional[_Iterable[str]] = ..., first_speaker_role: _Optional[str] = ..., skip_overlap: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class DiarizeRequest(_message.Message):
    __slots__ = ("config", "chunk")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    config: DiarizeConfig
    chunk: bytes
    def __init__(self, config: _Optional[_Union[DiarizeConfig, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class DiarizedTurn(_message.Message):
    __slots__ = ("segment", "overlap", "participants")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    segment: _common_pb2.Segment
    overlap: bool
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, segment: _Optional[_Union[_common_pb2.Segment, _Mapping]] = ..., overlap: _Optional[bool] = ..., participants: _Optional[_Iterable[str]] = ...) -> None: ...

class DiarizeResponse(_message.Message):
    __slots__ = ("request_id", "turns", "participants", "num_speakers", "windows", "encoder")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    NUM_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    turns: _containers.RepeatedCompositeFieldContainer[DiarizedTurn]
    participants: _containers.RepeatedScalarFieldContainer[str]
    num_speakers: int
    windows: int
    encoder: _common_pb2.ModelRef
    def __init__(self, request_id: _Optional[str] = ..., turns: _Optional[_Iterable[_Union[DiarizedTurn, _Mapping]]] = ..., participants: _Optional[_Iterable[str]] = ..., num_speakers: _Optional[int] = ..., windows: _Optional[int] = ..., encoder: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ...) -> None: ...
