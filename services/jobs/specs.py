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


SPEC_TYPES: dict[str, type[BaseModel]] = {"segment_batch": SegmentBatchSpec, "train": ExperimentSpec}


def parse_spec(kind: str, data: dict[str, Any] | str | Path) -> BaseModel:
    """Validate a spec for a job kind, from a dict, YAML/JSON text or a file path; SpecError on any problem."""
    if kind not in SPEC_TYPES:
        raise SpecError(f"unknown job kind {kind!r}; known: {sorted(SPEC_TYPES)}")
    return validate_model(SPEC_TYPES[kind], read_mapping(data, kind), kind)
