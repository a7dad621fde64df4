from ser.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_REGISTERED: _ClassVar[ModelState]
    MODEL_STATE_LOADING: _ClassVar[ModelState]
    MODEL_STATE_READY: _ClassVar[ModelState]
    MODEL_STATE_FAILED: _ClassVar[ModelState]

class InputKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INPUT_KIND_UNSPECIFIED: _ClassVar[InputKind]
    INPUT_KIND_LOG_MEL: _ClassVar[InputKind]
    INPUT_KIND_IMAGE: _ClassVar[InputKind]
    INPUT_KIND_WAVEFORM: _ClassVar[InputKind]
    INPUT_KIND_FUNCTIONALS: _ClassVar[InputKind]
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_REGISTERED: ModelState
MODEL_STATE_LOADING: ModelState
MODEL_STATE_READY: ModelState
MODEL_STATE_FAILED: ModelState
INPUT_KIND_UNSPECIFIED: InputKind
INPUT_KIND_LOG_MEL: InputKind
INPUT_KIND_IMAGE: InputKind
INPUT_KIND_WAVEFORM: InputKind
INPUT_KIND_FUNCTIONALS: InputKind

class PredictRequest(_message.Message):
    __slots__ = ("model", "features", "audio", "raw_inputs", "feature_config", "speaker_embedding", "bovw", "request_id", "speaker_group", "speaker_normalize")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    RAW_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    BOVW_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_GROUP_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    features: _common_pb2.Tensor
    audio: _common_pb2.AudioPayload
    raw_inputs: _common_pb2.Tensor
    feature_config: _common_pb2.FeatureConfigRef
    speaker_embedding: _common_pb2.Tensor
    bovw: _common_pb2.Tensor
    request_id: str
    speaker_group: str
    speaker_normalize: bool
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., features: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., audio: _Optional[_Union[_common_pb2.AudioPayload, _Mapping]] = ..., raw_inputs: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., feature_config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., speaker_embedding: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., bovw: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., request_id: _Optional[str] = ..., speaker_group: _Optional[str] = ..., speaker_normalize: _Optional[bool] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("request_id", "posteriors", "model", "queue_ms", "compute_ms", "batch_size", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    POSTERIORS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    posteriors: _common_pb2.EmotionPosteriors
    model: _common_pb2.ModelRef
    queue_ms: float
    compute_ms: float
    batch_size: int
    error: _common_pb2.ErrorDetail
    def __init__(self, request_id: _Optional[str] = ..., posteriors: _Optional[_Union[_common_pb2.EmotionPosteriors, _Mapping]] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., queue_ms: _Optional[float] = ..., compute_ms: _Optional[float] = ..., batch_size: _Optional[int] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class PredictBatchRequest(_message.Message):
    __slots__ = ("model", "items")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    items: _containers.RepeatedCompositeFieldContainer[PredictRequest]
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., items: _Optional[_Iterable[_Union[PredictRequest, _Mapping]]] = ...) -> None: ...

class PredictBatchResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[PredictResponse]
    def __init__(self, items: _Optional[_Iterable[_Union[PredictResponse, _Mapping]]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("ref", "aliases", "architecture", "labels", "label_mapping", "feature_config", "input_kind", "input_shape", "speaker_aware", "speaker_dim", "needs_bovw", "vocabulary", "state", "device", "card_json", "created_unix_ms", "error", "uncertain_below")
    REF_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LABEL_MAPPING_FIELD_NUMBER: _ClassVar[int]
    FEATURE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    INPUT_KIND_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_AWARE_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_DIM_FIELD_NUMBER: _ClassVar[int]
    NEEDS_BOVW_FIELD_NUMBER: _ClassVar[int]
    VOCABULARY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    CARD_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    UNCERTAIN_BELOW_FIELD_NUMBER: _ClassVar[int]
    ref: _common_pb2.ModelRef
    aliases: _containers.RepeatedScalarFieldContainer[str]
    architecture: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    label_mapping: str
    feature_config: _common_pb2.FeatureConfigRef
    input_kind: InputKind
    input_shape: _containers.RepeatedScalarFieldContainer[int]
    speaker_aware: bool
    speaker_dim: int
    needs_bovw: bool
    vocabulary: _common_pb2.ModelRef
    state: ModelState
    device: str
    card_json: str
    created_unix_ms: int
    error: _common_pb2.ErrorDetail
    uncertain_below: float
    def __init__(self, ref: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., aliases: _Optional[_Iterable[str]] = ..., architecture: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., label_mapping: _Optional[str] = ..., feature_config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., input_kind: _Optional[_Union[InputKind, str]] = ..., input_shape: _Optional[_Iterable[int]] = ..., speaker_aware: _Optional[bool] = ..., speaker_dim: _Optional[int] = ..., needs_bovw: _Optional[bool] = ..., vocabulary: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., state: _Optional[_Union[ModelState, str]] = ..., device: _Optional[str] = ..., card_json: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ..., uncertain_below: _Optional[float] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("name", "all_versions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    all_versions: bool
    def __init__(self, name: _Optional[str] = ..., all_versions: _Optional[bool] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: _common_pb2.ModelRef
    def __init__(self, model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ...) -> None: ...
