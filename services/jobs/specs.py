"""Job specs: typed, validated before anything is queued, stored verbatim with the job.

``confine_spec`` is the one place that applies the path rule (``shared.paths.PathPolicy``) to a job:
``JobClient.submit`` calls it before a job is queued (with the submitter's settings) and
``progress.run_task`` calls it before any task body runs (with the worker's). Each spec type says
which of its fields are paths in its ``confined`` method; a kind without one cannot be submitted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import SpecError
from shared.experiments.spec import CorpusRef, ExperimentSpec
from shared.paths import PathPolicy
from shared.spec_io import read_mapping, validate_model

# the longest audio accepted by default (SER_MAX_AUDIO_SECONDS) analysed at real time: any longer deadline is a typo
MAX_CALL_TIMEOUT_S = 4 * 3600.0


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VadSpec(_Spec):
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    min_speech_ms: int = Field(250, ge=0)
    max_speech_ms: int = Field(10000, gt=0)
    min_silence_ms: int = Field(300, ge=0)
    pad_ms: int = Field(100, ge=0)

    @model_validator(mode="after")
    def _segmentation_rule_holds(self) -> Self:
        """The segmenter's own check (max_speech_ms > min_speech_ms + 2 * pad_ms), at submit instead of mid-job.
        Defaults are valid, and the check imports shared.audio (torch), so it runs only for given settings."""
        if self.model_fields_set:
            from shared.audio.vad import VadConfig

            VadConfig(**self.model_dump())
        return self


@runtime_checkable
class Confinable(Protocol):
    """A spec that names its paths: ``confined`` returns it with each one resolved and checked."""

    def confined(self, paths: PathPolicy) -> Self: ...


def _read_all(paths: PathPolicy, inputs: list[str]) -> list[str]:
    return [str(paths.read(p)) for p in inputs]


def _manifest(paths: PathPolicy, manifest: str | None) -> str | None:
    return None if manifest is None else str(paths.read(manifest))


def _output(paths: PathPolicy, output_dir: str | None) -> str | None:
    return None if output_dir is None else str(paths.write(output_dir))


class _BatchSpec(_Spec):
    """What every batch job reads and writes: explicit files and/or a manifest, and an output folder."""

    inputs: list[str] = Field(default_factory=list, description="audio file paths")
    manifest: str | None = Field(None, description="a folder, a .txt/.jsonl/.csv manifest or one audio file")
    output_dir: str | None = None

    @field_validator("inputs")
    @classmethod
    def _no_empty_paths(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("inputs contains an empty path")
        return value

    def model_post_init(self, __context: Any) -> None:
        if not self.inputs and not self.manifest:
            raise ValueError("give inputs (a list of files) or manifest (a folder or list file)")

    def confined(self, paths: PathPolicy) -> Self:
        return self.model_copy(update={"inputs": _read_all(paths, self.inputs),
                                       "manifest": _manifest(paths, self.manifest),
                                       "output_dir": _output(paths, self.output_dir)})


class SegmentBatchSpec(_BatchSpec):
    """Segment every recording of a folder, a manifest file (a list, JSONL or CSV with ``path``) or a list."""

    output_dir: str | None = Field(None, description="where <job_id>/segments.jsonl is written; "
                                                     "None = <SER_ARTIFACTS_DIR>/jobs")
    keep_channels: bool = True
    normalize: Literal["none", "peak", "loudness"] = "none"
    vad: VadSpec = VadSpec()


class _FitSpec(_Spec):
    """Training audio for a fitted artifact: corpora, and/or a folder/manifest/list of files."""

    corpora: list[CorpusRef] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list, description="audio file paths")
    manifest: str | None = Field(None, description="a folder, a .txt/.jsonl/.csv manifest or one audio file")
    name: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="artifact name")
    seed: int = 0

    def model_post_init(self, __context: Any) -> None:
        if not self.corpora and not self.inputs and not self.manifest:
            raise ValueError("give corpora (name + root), inputs (files) or manifest (a folder or list file)")

    def confined(self, paths: PathPolicy) -> Self:
        return self.model_copy(update={"corpora": [c.confined(paths) for c in self.corpora], "inputs": _read_all(paths, self.inputs),
                                       "manifest": _manifest(paths, self.manifest)})


class FitVocabularySpec(_FitSpec):
    """A BOVW vocabulary over KAZE descriptors of log-mel images; ``k_candidates`` picks k by silhouette."""

    k: int = Field(128, ge=2)
    k_candidates: list[int] | None = Field(None, min_length=1)
    max_images: int = Field(2000, ge=1, description="images sampled (seeded) from the training audio")
    preset: str = Field("vacnn", description="log-mel preset of shared.features.config.PRESETS")
    image_size: int = Field(224, ge=8)

    @field_validator("k_candidates")
    @classmethod
    def _candidates_at_least_two(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and min(value) < 2:
            raise ValueError("every k candidate must be >= 2")
        return value

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        from shared.features.config import PRESETS

        if value not in PRESETS:
            raise ValueError(f"unknown log-mel preset {value!r}; known: {sorted(PRESETS)}")
        return value


class FitSpeakerPcaSpec(_FitSpec):
    """A PCA projection of GE2E speaker embeddings to the model width (384 in the Speaker CCT paper)."""

    width: int = Field(384, ge=1)
    max_utterances: int = Field(5000, ge=2, description="utterances sampled (seeded) from the training audio")
    encoder: Literal["ge2e"] = "ge2e"


MODEL_REF = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(:[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$"


class AnalyzeBatchSpec(_BatchSpec):
    """Full call analysis of every recording of a folder, list or JSONL manifest, through the gateway.

    ``options`` are ser.v1.AnalyzeOptions in their JSON form (proto field names), so a spec and an
    AnalyzeCall request cannot disagree; ``model`` (NAME[:VERSION]) is a shorthand for options.model.
    ``output_dir`` None: a job folder under SER_ARTIFACTS_DIR; a given folder is shared by resubmissions,
    which skip files already analysed there unless ``redo_finished``. The gateway is the worker's own
    (SER_GATEWAY_ADDR), never the spec's: the worker sends it its token.
    """

    output_dir: str | None = Field(None, description="results folder; None = <SER_ARTIFACTS_DIR>/jobs/<job_id>")
    model: str | None = Field(None, pattern=MODEL_REF,
                              description="NAME[:VERSION_OR_ALIAS]; None = options.model or 'default'")
    options: dict[str, Any] = Field(default_factory=dict, description="ser.v1.AnalyzeOptions as JSON")
    redo_finished: bool = False
    concurrency: int = Field(4, ge=1, le=64, description="AnalyzeCall requests in flight at once")
    call_timeout_s: float = Field(600.0, gt=0, le=MAX_CALL_TIMEOUT_S, description="deadline of one AnalyzeCall, s")
    attempts: int = Field(3, ge=1, le=10, description="tries per file on UNAVAILABLE / RESOURCE_EXHAUSTED")

    @model_validator(mode="before")
    @classmethod
    def _no_destination(cls, data: Any) -> Any:
        """A spec names no server: the worker sends its gateway token only to its own SER_GATEWAY_ADDR."""
        if isinstance(data, dict) and "gateway" in data:
            raise ValueError("`gateway` is not a spec field: the worker calls the gateway its settings name "
                             "(SER_GATEWAY_ADDR), so a spec cannot send the worker's token elsewhere")
        return data

    @field_validator("options")
    @classmethod
    def _analyze_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
        from ser.v1 import analysis_pb2

        try:
            message = ParseDict(value, analysis_pb2.AnalyzeOptions())
        except ParseError as exc:
            raise ValueError(f"options are not ser.v1.AnalyzeOptions: {exc}") from exc
        options = MessageToDict(message, preserving_proto_field_name=True)
        VadSpec(**{k: v for k, v in options.get("vad", {}).items() if v})  # zero = the default, as preprocess reads it
        return options

    def model_post_init(self, __context: Any) -> None:
        super().model_post_init(__context)
        if self.model and self.options.get("model"):
            raise ValueError("set the model once: `model` or `options.model`, not both")


SPEC_TYPES: dict[str, type[BaseModel]] = {"segment_batch": SegmentBatchSpec, "analyze_batch": AnalyzeBatchSpec,
                                         "train": ExperimentSpec, "evaluate": ExperimentSpec,
                                         "fit_vocabulary": FitVocabularySpec, "fit_speaker_pca": FitSpeakerPcaSpec}


def parse_spec(kind: str, data: dict[str, Any] | str | Path) -> BaseModel:
    """Validate a spec for a job kind, from a dict, YAML/JSON text or a file path; SpecError on any problem."""
    if kind not in SPEC_TYPES:
        raise SpecError(f"unknown job kind {kind!r}; known: {sorted(SPEC_TYPES)}")
    return validate_model(SPEC_TYPES[kind], read_mapping(data, kind), kind)


def confine_spec(spec: BaseModel, paths: PathPolicy) -> BaseModel:
    """``spec`` with every path it names resolved and checked against ``paths`` (InvalidInput otherwise):
    inputs, manifests and corpus roots are reads, ``output_dir`` a write. What a manifest or corpus lists
    is checked file by file when the task reads it (``services.jobs.inputs``)."""
    if not isinstance(spec, Confinable):
        raise SpecError(f"{type(spec).__name__} does not declare its paths (a `confined` method); refusing the job")
    return spec.confined(paths)
