from ser.v1 import common_pb2 as _common_pb2
from ser.v1 import analysis_pb2 as _analysis_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_TRAINING: _ClassVar[JobKind]
    JOB_KIND_EVALUATION: _ClassVar[JobKind]
    JOB_KIND_FIT: _ClassVar[JobKind]
    JOB_KIND_BATCH_ANALYSIS: _ClassVar[JobKind]
    JOB_KIND_SEGMENT_BATCH: _ClassVar[JobKind]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
    JOB_STATE_RETRYING: _ClassVar[JobState]
    JOB_STATE_PARTIAL: _ClassVar[JobState]

class SpecFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEC_FORMAT_UNSPECIFIED: _ClassVar[SpecFormat]
    SPEC_FORMAT_YAML: _ClassVar[SpecFormat]
    SPEC_FORMAT_JSON: _ClassVar[SpecFormat]

class FitTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIT_TARGET_UNSPECIFIED: _ClassVar[FitTarget]
    FIT_TARGET_VOCABULARY: _ClassVar[FitTarget]
    FIT_TARGET_SPEAKER_PCA: _ClassVar[FitTarget]
    FIT_TARGET_NORMALIZATION_STATS: _ClassVar[FitTarget]

class BatchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_MODE_UNSPECIFIED: _ClassVar[BatchMode]
    BATCH_MODE_ANALYZE: _ClassVar[BatchMode]
    BATCH_MODE_SEGMENT_ONLY: _ClassVar[BatchMode]
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_TRAINING: JobKind
JOB_KIND_EVALUATION: JobKind
JOB_KIND_FIT: JobKind
JOB_KIND_BATCH_ANALYSIS: JobKind
JOB_KIND_SEGMENT_BATCH: JobKind
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STATE_RETRYING: JobState
JOB_STATE_PARTIAL: JobState
SPEC_FORMAT_UNSPECIFIED: SpecFormat
SPEC_FORMAT_YAML: SpecFormat
SPEC_FORMAT_JSON: SpecFormat
FIT_TARGET_UNSPECIFIED: FitTarget
FIT_TARGET_VOCABULARY: FitTarget
FIT_TARGET_SPEAKER_PCA: FitTarget
FIT_TARGET_NORMALIZATION_STATS: FitTarget
BATCH_MODE_UNSPECIFIED: BatchMode
BATCH_MODE_ANALYZE: BatchMode
BATCH_MODE_SEGMENT_ONLY: BatchMode

class JobSpec(_message.Message):
    __slots__ = ("format", "text", "path")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    format: SpecFormat
    text: str
    path: str
    def __init__(self, format: _Optional[_Union[SpecFormat, str]] = ..., text: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("fraction", "message", "stage", "step", "total_steps", "metrics", "items_done", "items_failed")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_DONE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FAILED_FIELD_NUMBER: _ClassVar[int]
    fraction: float
    message: str
    stage: str
    step: int
    total_steps: int
    metrics: _containers.ScalarMap[str, float]
    items_done: int
    items_failed: int
    def __init__(self, fraction: _Optional[float] = ..., message: _Optional[str] = ..., stage: _Optional[str] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., items_done: _Optional[int] = ..., items_failed: _Optional[int] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "kind", "state", "progress", "spec", "result_uri", "error", "created_unix_ms", "started_unix_ms", "finished_unix_ms", "attempts", "labels", "idempotency_key", "callback_url")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    RESULT_URI_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: JobKind
    state: JobState
    progress: JobProgress
    spec: JobSpec
    result_uri: str
    error: _common_pb2.ErrorDetail
    created_unix_ms: int
    started_unix_ms: int
    finished_unix_ms: int
    attempts: int
    labels: _containers.ScalarMap[str, str]
    idempotency_key: str
    callback_url: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., progress: _Optional[_Union[JobProgress, _Mapping]] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., result_uri: _Optional[str] = ..., error: _Optional[_Union[_common_pb2.ErrorDetail, _Mapping]] = ..., created_unix_ms: _Optional[int] = ..., started_unix_ms: _Optional[int] = ..., finished_unix_ms: _Optional[int] = ..., attempts: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., idempotency_key: _Optional[str] = ..., callback_url: _Optional[str] = ...) -> None: ...

class SubmitOptions(_message.Message):
    __slots__ = ("idempotency_key", "labels", "queue", "callback_url")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    labels: _containers.ScalarMap[str, str]
    queue: str
    callback_url: str
    def __init__(self, idempotency_key: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., queue: _Optional[str] = ..., callback_url: _Optional[str] = ...) -> None: ...

class SubmitTrainingRequest(_message.Message):
    __slots__ = ("spec", "options")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    options: SubmitOptions
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., options: _Optional[_Union[SubmitOptions, _Mapping]] = ...) -> None: ...

class SubmitEvaluationRequest(_message.Message):
    __slots__ = ("spec", "model", "options")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    model: _common_pb2.ModelRef
    options: SubmitOptions
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., model: _Optional[_Union[_common_pb2.ModelRef, _Mapping]] = ..., options: _Optional[_Union[SubmitOptions, _Mapping]] = ...) -> None: ...

class SubmitFitRequest(_message.Message):
    __slots__ = ("target", "spec", "options")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    target: FitTarget
    spec: JobSpec
    options: SubmitOptions
    def __init__(self, target: _Optional[_Union[FitTarget, str]] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., options: _Optional[_Union[SubmitOptions, _Mapping]] = ...) -> None: ...

class SubmitBatchAnalysisRequest(_message.Message):
    __slots__ = ("input", "output_dir", "mode", "options", "redo_finished", "submit")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    REDO_FINISHED_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    input: str
    output_dir: str
    mode: BatchMode
    options: _analysis_pb2.AnalyzeOptions
    redo_finished: bool
    submit: SubmitOptions
    def __init__(self, input: _Optional[str] = ..., output_dir: _Optional[str] = ..., mode: _Optional[_Union[BatchMode, str]] = ..., options: _Optional[_Union[_analysis_pb2.AnalyzeOptions, _Mapping]] = ..., redo_finished: _Optional[bool] = ..., submit: _Optional[_Union[SubmitOptions, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("id", "min_interval_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    MIN_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    min_interval_ms: int
    def __init__(self, id: _Optional[str] = ..., min_interval_ms: _Optional[int] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job", "at_unix_ms", "final")
    JOB_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    job: Job
    at_unix_ms: int
    final: bool
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., at_unix_ms: _Optional[int] = ..., final: _Optional[bool] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("kind", "states", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: JobKind
    states: _containers.RepeatedScalarFieldContainer[JobState]
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[JobKind, str]] = ..., states: _Optional[_Iterable[_Union[JobState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
