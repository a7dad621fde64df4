from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PcmEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PCM_ENCODING_UNSPECIFIED: _ClassVar[PcmEncoding]
    PCM_ENCODING_U8: _ClassVar[PcmEncoding]
    PCM_ENCODING_S16LE: _ClassVar[PcmEncoding]
    PCM_ENCODING_S24LE: _ClassVar[PcmEncoding]
    PCM_ENCODING_S32LE: _ClassVar[PcmEncoding]
    PCM_ENCODING_F32LE: _ClassVar[PcmEncoding]
    PCM_ENCODING_MULAW: _ClassVar[PcmEncoding]
    PCM_ENCODING_ALAW: _ClassVar[PcmEncoding]

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_FLOAT64: _ClassVar[DType]
    DTYPE_FLOAT16: _ClassVar[DType]
    DTYPE_INT64: _ClassVar[DType]
    DTYPE_INT32: _ClassVar[DType]
    DTYPE_INT16: _ClassVar[DType]
    DTYPE_UINT8: _ClassVar[DType]
    DTYPE_BOOL: _ClassVar[DType]
PCM_ENCODING_UNSPECIFIED: PcmEncoding
PCM_ENCODING_U8: PcmEncoding
PCM_ENCODING_S16LE: PcmEncoding
PCM_ENCODING_S24LE: PcmEncoding
PCM_ENCODING_S32LE: PcmEncoding
PCM_ENCODING_F32LE: PcmEncoding
PCM_ENCODING_MULAW: PcmEncoding
PCM_ENCODING_ALAW: PcmEncoding
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_FLOAT64: DType
DTYPE_FLOAT16: DType
DTYPE_INT64: DType
DTYPE_INT32: DType
DTYPE_INT16: DType
DTYPE_UINT8: DType
DTYPE_BOOL: DType

class PcmFormat(_message.Message):
    __slots__ = ("sample_rate_hz", "channels", "encoding", "sample_width_bytes")
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_WIDTH_BYTES_FIELD_NUMBER: _ClassVar[int]
    sample_rate_hz: int
    channels: int
    encoding: PcmEncoding
    sample_width_bytes: int
    def __init__(self, sample_rate_hz: _Optional[int] = ..., channels: _Optional[int] = ..., encoding: _Optional[_Union[PcmEncoding, str]] = ..., sample_width_bytes: _Optional[int] = ...) -> None: ...

class RawPcm(_message.Message):
    __slots__ = ("format", "data")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    format: PcmFormat
    data: bytes
    def __init__(self, format: _Optional[_Union[PcmFormat, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class EncodedAudio(_message.Message):
    __slots__ = ("data", "format_hint")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_HINT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    format_hint: str
    def __init__(self, data: _Optional[bytes] = ..., format_hint: _Optional[str] = ...) -> None: ...

class AudioPayload(_message.Message):
    __slots__ = ("encoded", "raw")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    encoded: EncodedAudio
    raw: RawPcm
    def __init__(self, encoded: _Optional[_Union[EncodedAudio, _Mapping]] = ..., raw: _Optional[_Union[RawPcm, _Mapping]] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("shape", "dtype", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: DType
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[_Union[DType, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("channel", "speaker", "start_ms", "end_ms")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    channel: int
    speaker: str
    start_ms: int
    end_ms: int
    def __init__(self, channel: _Optional[int] = ..., speaker: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class EmotionPosteriors(_message.Message):
    __slots__ = ("labels", "probs", "top_label", "top_prob", "valence", "arousal", "uncertain")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PROBS_FIELD_NUMBER: _ClassVar[int]
    TOP_LABEL_FIELD_NUMBER: _ClassVar[int]
    TOP_PROB_FIELD_NUMBER: _ClassVar[int]
    VALENCE_FIELD_NUMBER: _ClassVar[int]
    AROUSAL_FIELD_NUMBER: _ClassVar[int]
    UNCERTAIN_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[str]
    probs: _containers.RepeatedScalarFieldContainer[float]
    top_label: str
    top_prob: float
    valence: float
    arousal: float
    uncertain: bool
    def __init__(self, labels: _Optional[_Iterable[str]] = ..., probs: _Optional[_Iterable[float]] = ..., top_label: _Optional[str] = ..., top_prob: _Optional[float] = ..., valence: _Optional[float] = ..., arousal: _Optional[float] = ..., uncertain: _Optional[bool] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class FeatureConfigRef(_message.Message):
    __slots__ = ("hash", "preset", "json")
    HASH_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    hash: str
    preset: str
    json: str
    def __init__(self, hash: _Optional[str] = ..., preset: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...
