"""Job specs: typed, validated before anything is queued, stored verbatim with the job."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import SpecError
from shared.experiments.spec import ExperimentSpec
from shared.spec_io import read_mapping, validate_model


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VadSpec(_Spec):
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    min_speech_ms: int = Field(250, ge=0)
    max_speech_ms: int = Field(10000, gt=0)
    min_silence_ms: int = Field(300, ge=0)
    pad_ms: int = Field(100, ge=0)


class SegmentBatchSpec(_Spec):
    """Segment every recording of a folder, a manifest file (one path a line, or JSONL with ``path``) or a list."""

    inputs: list[str] = Field(default_factory=list, description="audio file paths")
    manifest: str | None = Field(None, description="a folder, a .txt list or a .jsonl manifest")
    output_dir: str = Field("artifacts/jobs", description="where <job_id>/segments.jsonl is written")
    keep_channels: bool = True
    normalize: Literal["none", "peak", "loudness"] = "none"
    vad: VadSpec = VadSpec()

    @field_validator("inputs")
    @classmethod
    def _no_empty_paths(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("inputs contains an empty path")
        return value

    def model_post_init(self, __context: Any) -> None:
        if not self.inputs and not self.manifest:
            raise ValueError("give inputs (a list of files) or manifest (a folder or list file)")


class CorpusRef(_Spec):
    """A corpus to fit on: a loader name (``savee``, ``ravdess``...), its root folder and loader options."""

    name: str = Field(min_length=1)
    root: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class _FitSpec(_Spec):
    """Training audio for a fitted artifact: corpora, and/or a folder/manifest/list of files."""

    corpora: list[CorpusRef] = Field(default_factory=list)
    inputs: list[str] = Field(default_factory=list, description="audio file paths")
    manifest: str | None = Field(None, description="a folder, a .txt list or a .jsonl manifest")
    name: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="artifact name")
    seed: int = 0

    def model_post_init(self, __context: Any) -> None:
        if not self.corpora and not self.inputs and not self.manifest:
            raise ValueError("give corpora (name + root), inputs (files) or manifest (a folder or list file)")


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


class AnalyzeBatchSpec(_Spec):
    """Full call analysis of every recording of a folder, list or JSONL manifest, through the gateway.

    ``options`` are ser.v1.AnalyzeOptions in their JSON form (proto field names), so a spec and an
    AnalyzeCall request cannot disagree; ``model`` (NAME[:VERSION]) is a shorthand for options.model.
    ``output_dir`` None: a job folder under SER_ARTIFACTS_DIR; a given folder is shared by resubmissions,
    which skip files already analysed there unless ``redo_finished``.
    """

    inputs: list[str] = Field(default_factory=list, description="audio file paths")
    manifest: str | None = Field(None, description="a folder, a .txt list or a .jsonl manifest")
    output_dir: str | None = Field(None, description="results folder; None = <SER_ARTIFACTS_DIR>/jobs/<job_id>")
    model: str | None = Field(None, pattern=MODEL_REF,
                              description="NAME[:VERSION_OR_ALIAS]; None = options.model or 'default'")
    options: dict[str, Any] = Field(default_factory=dict, description="ser.v1.AnalyzeOptions as JSON")
    redo_finished: bool = False
    concurrency: int = Field(4, ge=1, le=64, description="AnalyzeCall requests in flight at once")
    call_timeout_s: float = Field(600.0, gt=0, description="deadline of one AnalyzeCall")
    attempts: int = Field(3, ge=1, le=10, description="tries per file on UNAVAILABLE / RESOURCE_EXHAUSTED")
    gateway: str | None = Field(None, description="host:port of the gateway; None = SER_GATEWAY_ADDR")

    @field_validator("inputs")
    @classmethod
    def _no_empty_paths(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("inputs contains an empty path")
        return value

    @field_validator("options")
    @classmethod
    def _analyze_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
        from ser.v1 import analysis_pb2

        try:
            message = ParseDict(value, analysis_pb2.AnalyzeOptions())
        except ParseError as exc:
            raise ValueError(f"options are not ser.v1.AnalyzeOptions: {exc}") from exc
        return MessageToDict(message, preserving_proto_field_name=True)

    def model_post_init(self, __context: Any) -> None:
        if not self.inputs and not self.manifest:
            raise ValueError("give inputs (a list of files) or manifest (a folder or list file)")
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
