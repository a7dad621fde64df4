from ser.v1 import common_pb2 as _common_pb2
from ser.v1 import preprocess_pb2 as _preprocess_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_MODE_UNSPECIFIED: _ClassVar[CallMode]
    CALL_MODE_AUTO: _ClassVar[CallMode]
    CALL_MODE_CHANNELS: _ClassVar[CallMode]
    CALL_MODE_DIARIZE: _ClassVar[CallMode]
CALL_MODE_UNSPECIFIED: CallMode
CALL_MODE_AUTO: CallMode
CALL_MODE_CHANNELS: CallMode
CALL_MODE_DIARIZE: CallMode

class AnalyzeOptions(_message.Message):
    __slots__ = ("model", "mix_down", "channel_roles", "vad", "speaker_normalize", "negative_labels", "watch_participant", "min_silence_ms", "call_mode", "num_speakers", "first_speaker_role", "skip_overlap")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MIX_DOWN_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ROLES_FIELD_NUMBER: _ClassVar[int]
    VAD_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_LABELS_FIELD_NUMBER: _ClassVar[int]
    WATCH_PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    MIN_SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    CALL_MODE_FIELD_NUMBER: _ClassVar[int]
    NUM_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SPEAKER_ROLE_FIELD_NUMBER: _ClassVar[int]
    SKIP_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    mix_down: bool
    channel_roles: _containers.RepeatedScalarFieldContainer[str]
    vad: _preprocess_pb2.VadOptions
    speaker_normalize: bool
    negative_labels: _containers.RepeatedScalarFieldContainer[str]
    watch_participant: str
    min_silence_ms: int
    call_mode: CallMode
    num_speakers: int
    first_speaker_role: str
    skip_overlap: bool
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., mix_down: _Optional[bool] = ..., channel_roles: _Optional[_Iterable[str]] = ..., vad: _Optional[_Union[_preprocess_pb2.VadOptions, _Mapping]] = ..., speaker_normalize: _Optional[bool] = ..., negative_labels: _Optional[_Iterable[str]] = ..., watch_participant: _Optional[str] = ..., min_silence_ms: _Optional[int] = ..., call_mode: _Optional[_Union[CallMode, str]] = ..., num_speakers: _Optional[int] = ..., first_speaker_role: _Optional[str] = ..., skip_overlap: _Optional[bool] = ...) -> None: ...

class AnalyzeCallRequest(_message.Message):
    __slots__ = ("audio", "options", "call_id")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    audio: _common_pb2.AudioPayload
    options: AnalyzeOptions
    call_id: str
    def __init__(self, audio: _Optional[_Union[_common_pb2.AudioPayload, _Mapping]] = ..., options: _Optional[_Union[AnalyzeOptions, _Mapping]] = ..., call_id: _Optional[str] = ...) -> None: ...

class TimelineEntry(_message.Message):
    __slots__ = ("segment", "participant", "emotion", "index", "overlap", "overlap_participants")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    segment: _common_pb2.Segment
    participant: str
    emotion: _common_pb2.EmotionPosteriors
    index: int
    overlap: bool
    overlap_participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, segment: _Optional[_Union[_common_pb2.Segment, _Mapping]] = ..., participant: _Optional[str] = ..., emotion: _Optional[_Union[_common_pb2.EmotionPosteriors, _Mapping]] = ..., index: _Optional[int] = ..., overlap: _Optional[bool] = ..., overlap_participants: _Optional[_Iterable[str]] = ...) -> None: ...

class EmotionShare(_message.Message):
    __slots__ = ("label", "share", "duration_ms", "segments")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    label: str
    share: float
    duration_ms: int
    segments: int
    def __init__(self, label: _Optional[str] = ..., share: _Optional[float] = ..., duration_ms: _Optional[int] = ..., segments: _Optional[int] = ...) -> None: ...

class QuarterSummary(_message.Message):
    __slots__ = ("quarter", "start_ms", "end_ms", "talk_time_ms", "shares", "mean_valence", "mean_arousal", "uncertain_ms")
    QUARTER_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    TALK_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    MEAN_VALENCE_FIELD_NUMBER: _ClassVar[int]
    MEAN_AROUSAL_FIELD_NUMBER: _ClassVar[int]
    UNCERTAIN_MS_FIELD_NUMBER: _ClassVar[int]
    quarter: int
    start_ms: int
    end_ms: int
    talk_time_ms: int
    shares: _containers.RepeatedCompositeFieldContainer[EmotionShare]
    mean_valence: float
    mean_arousal: float
    uncertain_ms: int
    def __init__(self, quarter: _Optional[int] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., talk_time_ms: _Optional[int] = ..., shares: _Optional[_Iterable[_Union[EmotionShare, _Mapping]]] = ..., mean_valence: _Optional[float] = ..., mean_arousal: _Optional[float] = ..., uncertain_ms: _Optional[int] = ...) -> None: ...

class TurningPoint(_message.Message):
    __slots__ = ("at_ms", "timeline_index", "from_label", "to_label", "valence_before", "valence_after")
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    FROM_LABEL_FIELD_NUMBER: _ClassVar[int]
    TO_LABEL_FIELD_NUMBER: _ClassVar[int]
    VALENCE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    VALENCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    at_ms: int
    timeline_index: int
    from_label: str
    to_label: str
    valence_before: float
    valence_after: float
    def __init__(self, at_ms: _Optional[int] = ..., timeline_index: _Optional[int] = ..., from_label: _Optional[str] = ..., to_label: _Optional[str] = ..., valence_before: _Optional[float] = ..., valence_after: _Optional[float] = ...) -> None: ...

class ParticipantSummary(_message.Message):
    __slots__ = ("participant", "channel", "talk_time_ms", "talk_share", "shares", "quarters", "negative_turns", "mean_valence", "mean_arousal", "segments", "uncertain_ms", "uncertain_segments")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TALK_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    TALK_SHARE_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    QUARTERS_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_TURNS_FIELD_NUMBER: _ClassVar[int]
    MEAN_VALENCE_FIELD_NUMBER: _ClassVar[int]
    MEAN_AROUSAL_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    UNCERTAIN_MS_FIELD_NUMBER: _ClassVar[int]
    UNCERTAIN_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    participant: str
    channel: int
    talk_time_ms: int
    talk_share: float
    shares: _containers.RepeatedCompositeFieldContainer[EmotionShare]
    quarters: _containers.RepeatedCompositeFieldContainer[QuarterSummary]
    negative_turns: _containers.RepeatedCompositeFieldContainer[TurningPoint]
    mean_valence: float
    mean_arousal: float
    segments: int
    uncertain_ms: int
    uncertain_segments: int
    def __init__(self, participant: _Optional[str] = ..., channel: _Optional[int] = ..., talk_time_ms: _Optional[int] = ..., talk_share: _Optional[float] = ..., shares: _Optional[_Iterable[_Union[EmotionShare, _Mapping]]] = ..., quarters: _Optional[_Iterable[_Union[QuarterSummary, _Mapping]]] = ..., negative_turns: _Optional[_Iterable[_Union[TurningPoint, _Mapping]]] = ..., mean_valence: _Optional[float] = ..., mean_arousal: _Optional[float] = ..., segments: _Optional[int] = ..., uncertain_ms: _Optional[int] = ..., uncertain_segments: _Optional[int] = ...) -> None: ...

class Interval(_message.Message):
    __slots__ = ("start_ms", "end_ms")
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    start_ms: int
    end_ms: int
    def __init__(self, start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class SilenceSummary(_message.Message):
    __slots__ = ("total_ms", "share", "long_silences", "overlap_ms")
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    LONG_SILENCES_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_MS_FIELD_NUMBER: _ClassVar[int]
    total_ms: int
    share: float
    long_silences: _containers.RepeatedCompositeFieldContainer[Interval]
    overlap_ms: int
    def __init__(self, total_ms: _Optional[int] = ..., share: _Optional[float] = ..., long_silences: _Optional[_Iterable[_Union[Interval, _Mapping]]] = ..., overlap_ms: _Optional[int] = ...) -> None: ...

class AnalyzeCallResponse(_message.Message):
    __slots__ = ("call_id", "duration_s", "source_rate_hz", "source_channels", "timeline", "participants", "silence", "model", "feature_config", "labels", "processing_s", "call_mode", "uncertain_below")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    SOURCE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    SILENCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FEATURE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_S_FIELD_NUMBER: _ClassVar[int]
    CALL_MODE_FIELD_NUMBER: _ClassVar[int]
    UNCERTAIN_BELOW_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    duration_s: float
    source_rate_hz: int
    source_channels: int
    timeline: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    participants: _containers.RepeatedCompositeFieldContainer[ParticipantSummary]
    silence: SilenceSummary
    model: _common_pb2.ModelRef
    feature_config: _common_pb2.FeatureConfigRef
    labels: _containers.RepeatedScalarFieldContainer[str]
    processing_s: float
    call_mode: CallMode
    uncertain_below: float
    def __init__(self, call_id: _Optional[str] = ..., duration_s: _Optional[float] = ..., source_rate_hz: _Optional[int] = ..., source_channels: _Optional[int] = ..., timeline: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ..., participants: _Optional[_Iterable[_Union[ParticipantSummary, _Mapping]]] = ..., silence: _Optional[_Union[SilenceSummary, _Mapping]] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., feature_config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., labels: _Optional[_Iterable[str]] = ..., processing_s: _Optional[float] = ..., call_mode: _Optional[_Union[CallMode, str]] = ..., uncertain_below: _Optional[float] = ...) -> None: ...

class AnalyzeUploadConfig(_message.Message):
    __slots__ = ("options", "call_id", "raw_format", "format_hint")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    RAW_FORMAT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_HINT_FIELD_NUMBER: _ClassVar[int]
    options: AnalyzeOptions
    call_id: str
    raw_format: _common_pb2.PcmFormat
    format_hint: str
    def __init__(self, options: _Optional[_Union[AnalyzeOptions, _Mapping]] = ..., call_id: _Optional[str] = ..., raw_format: _Optional[_Union[_common_pb2.PcmFormat, _Mapping]] = ..., format_hint: _Optional[str] = ...) -> None: ...

class AnalyzeUploadRequest(_message.Message):
    __slots__ = ("config", "chunk")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    config: AnalyzeUploadConfig
    chunk: bytes
    def __init__(self, config: _Optional[_Union[AnalyzeUploadConfig, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class AnalyzeStreamConfig(_message.Message):
    __slots__ = ("format", "options", "call_id")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    format: _common_pb2.PcmFormat
    options: AnalyzeOptions
    call_id: str
    def __init__(self, format: _Optional[_Union[_common_pb2.PcmFormat, _Mapping]] = ..., options: _Optional[_Union[AnalyzeOptions, _Mapping]] = ..., call_id: _Optional[str] = ...) -> None: ...

class AnalyzeStreamRequest(_message.Message):
    __slots__ = ("config", "chunk")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    config: AnalyzeStreamConfig
    chunk: bytes
    def __init__(self, config: _Optional[_Union[AnalyzeStreamConfig, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class AnalyzeStreamResponse(_message.Message):
    __slots__ = ("entry", "result", "received_ms", "latency_ms")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    entry: TimelineEntry
    result: AnalyzeCallResponse
    received_ms: int
    latency_ms: float
    def __init__(self, entry: _Optional[_Union[TimelineEntry, _Mapping]] = ..., result: _Optional[_Union[AnalyzeCallResponse, _Mapping]] = ..., received_ms: _Optional[int] = ..., latency_ms: _Optional[float] = ...) -> None: ...
