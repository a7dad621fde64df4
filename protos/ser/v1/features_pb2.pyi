from ser.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SmileFeatureSet(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SMILE_FEATURE_SET_UNSPECIFIED: _ClassVar[SmileFeatureSet]
    SMILE_FEATURE_SET_EGEMAPS_V02: _ClassVar[SmileFeatureSet]
    SMILE_FEATURE_SET_EMOBASE: _ClassVar[SmileFeatureSet]

class FeatureKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_KIND_UNSPECIFIED: _ClassVar[FeatureKind]
    FEATURE_KIND_LOG_MEL: _ClassVar[FeatureKind]
    FEATURE_KIND_IMAGE: _ClassVar[FeatureKind]
    FEATURE_KIND_BOVW: _ClassVar[FeatureKind]
    FEATURE_KIND_EGEMAPS: _ClassVar[FeatureKind]
SMILE_FEATURE_SET_UNSPECIFIED: SmileFeatureSet
SMILE_FEATURE_SET_EGEMAPS_V02: SmileFeatureSet
SMILE_FEATURE_SET_EMOBASE: SmileFeatureSet
FEATURE_KIND_UNSPECIFIED: FeatureKind
FEATURE_KIND_LOG_MEL: FeatureKind
FEATURE_KIND_IMAGE: FeatureKind
FEATURE_KIND_BOVW: FeatureKind
FEATURE_KIND_EGEMAPS: FeatureKind

class FeatureInput(_message.Message):
    __slots__ = ("audio", "segments", "id")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    audio: _common_pb2.AudioPayload
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.Segment]
    id: str
    def __init__(self, audio: _Optional[_Union[_common_pb2.AudioPayload, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.Segment, _Mapping]]] = ..., id: _Optional[str] = ...) -> None: ...

class ExtractLogMelRequest(_message.Message):
    __slots__ = ("input", "config", "deltas", "window_frames")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    DELTAS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FRAMES_FIELD_NUMBER: _ClassVar[int]
    input: FeatureInput
    config: _common_pb2.FeatureConfigRef
    deltas: bool
    window_frames: int
    def __init__(self, input: _Optional[_Union[FeatureInput, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., deltas: _Optional[bool] = ..., window_frames: _Optional[int] = ...) -> None: ...

class ImageOptions(_message.Message):
    __slots__ = ("height", "width", "channels", "imagenet_normalize")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    IMAGENET_NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    height: int
    width: int
    channels: int
    imagenet_normalize: bool
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., channels: _Optional[int] = ..., imagenet_normalize: _Optional[bool] = ...) -> None: ...

class ExtractImageRequest(_message.Message):
    __slots__ = ("input", "config", "image")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    input: FeatureInput
    config: _common_pb2.FeatureConfigRef
    image: ImageOptions
    def __init__(self, input: _Optional[_Union[FeatureInput, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., image: _Optional[_Union[ImageOptions, _Mapping]] = ...) -> None: ...

class ExtractBovwRequest(_message.Message):
    __slots__ = ("input", "config", "vocabulary")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    VOCABULARY_FIELD_NUMBER: _ClassVar[int]
    input: FeatureInput
    config: _common_pb2.FeatureConfigRef
    vocabulary: _common_pb2.ModelRef
    def __init__(self, input: _Optional[_Union[FeatureInput, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., vocabulary: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ...) -> None: ...

class ExtractEgemapsRequest(_message.Message):
    __slots__ = ("input", "feature_set")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    input: FeatureInput
    feature_set: SmileFeatureSet
    def __init__(self, input: _Optional[_Union[FeatureInput, _Mapping]] = ..., feature_set: _Optional[_Union[SmileFeatureSet, str]] = ...) -> None: ...

class FeatureItem(_message.Message):
    __slots__ = ("id", "segment", "tensor", "keypoints", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    KEYPOINTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    segment: _common_pb2.Segment
    tensor: _common_pb2.Tensor
    keypoints: int
    error: _common_pb2.ErrorDetail
    def __init__(self, id: _Optional[str] = ..., segment: _Optional[_Union[_common_pb2.Segment, _Mapping]] = ..., tensor: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., keypoints: _Optional[int] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class ExtractResponse(_message.Message):
    __slots__ = ("items", "config", "feature_names", "vocabulary")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    VOCABULARY_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[FeatureItem]
    config: _common_pb2.FeatureConfigRef
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    vocabulary: _common_pb2.ModelRef
    def __init__(self, items: _Optional[_Iterable[_Union[FeatureItem, _Mapping]]] = ..., config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., feature_names: _Optional[_Iterable[str]] = ..., vocabulary: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ...) -> None: ...

class BatchExtractRequest(_message.Message):
    __slots__ = ("inputs", "kinds", "config", "deltas", "window_frames", "image", "vocabulary", "feature_set")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    DELTAS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FRAMES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VOCABULARY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[FeatureInput]
    kinds: _containers.RepeatedScalarFieldContainer[FeatureKind]
    config: _common_pb2.FeatureConfigRef
    deltas: bool
    window_frames: int
    image: ImageOptions
    vocabulary: _common_pb2.ModelRef
    feature_set: SmileFeatureSet
    def __init__(self, inputs: _Optional[_Iterable[_Union[FeatureInput, _Mapping]]] = ..., kinds: _Optional[_Iterable[_Union[FeatureKind, str]]] = ..., config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., deltas: _Optional[bool] = ..., window_frames: _Optional[int] = ..., image: _Optional[_Union[ImageOptions, _Mapping]] = ..., vocabulary: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., feature_set: _Optional[_Union[SmileFeatureSet, str]] = ...) -> None: ...

class BatchItem(_message.Message):
    __slots__ = ("id", "segment", "tensors", "error")
    class TensorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    segment: _common_pb2.Segment
    tensors: _containers.MessageMap[str, _common_pb2.Tensor]
    error: _common_pb2.ErrorDetail
    def __init__(self, id: _Optional[str] = ..., segment: _Optional[_Union[_common_pb2.Segment, _Mapping]] = ..., tensors: _Optional[_Mapping[str, _common_pb2.Tensor]] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class BatchExtractResponse(_message.Message):
    __slots__ = ("items", "config", "feature_names", "vocabulary")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    VOCABULARY_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BatchItem]
    config: _common_pb2.FeatureConfigRef
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    vocabulary: _common_pb2.ModelRef
    def __init__(self, items: _Optional[_Iterable[_Union[BatchItem, _Mapping]]] = ..., config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., feature_names: _Optional[_Iterable[str]] = ..., vocabulary: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ...) -> None: ...

class ModelInputsRequest(_message.Message):
    __slots__ = ("config", "input")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    config: _common_pb2.FeatureConfigRef
    input: FeatureInput
    def __init__(self, config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., input: _Optional[_Union[FeatureInput, _Mapping]] = ...) -> None: ...

class ModelInputsResponse(_message.Message):
    __slots__ = ("id", "inputs", "config", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    inputs: _common_pb2.Tensor
    config: _common_pb2.FeatureConfigRef
    error: _common_pb2.ErrorDetail
    def __init__(self, id: _Optional[str] = ..., inputs: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.FeatureConfigRef, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...
