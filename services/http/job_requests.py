"""``POST /v1/jobs`` bodies and the ser.v1.Jobs submit request each one becomes.

``spec`` is what ``ser jobs submit`` / ``ser train`` / ``ser eval`` / ``ser fit`` read (YAML or JSON text, or
the same as a JSON object); the gateway validates it. A ``batch_analysis`` spec is the SubmitBatchAnalysis
fields: ``manifest`` (or ``input``, or ``inputs`` with one path), ``output_dir``, ``options``, ``model``,
``redo_finished`` and ``mode`` (``analyze`` or ``segment_only``). A ``fit`` spec names its ``target``.
"""
from __future__ import annotations

import json
from typing import Any, Literal

from google.protobuf.json_format import ParseError
from google.protobuf.message import Message
from pydantic import BaseModel, ConfigDict, Field
from ser.v1 import jobs_pb2

from services.jobs.analyze_client import analyze_options
from shared.errors import SpecError
from shared.spec_io import read_mapping

FIT_TARGETS = {"vocabulary": jobs_pb2.FIT_TARGET_VOCABULARY, "speaker_pca": jobs_pb2.FIT_TARGET_SPEAKER_PCA,
               "normalization_stats": jobs_pb2.FIT_TARGET_NORMALIZATION_STATS}
BATCH_MODES = {"analyze": jobs_pb2.BATCH_MODE_ANALYZE, "segment_only": jobs_pb2.BATCH_MODE_SEGMENT_ONLY}
BATCH_KEYS = {"manifest", "input", "inputs", "output_dir", "options", "model", "redo_finished", "mode"}


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["batch_analysis", "train", "eval", "fit", "fit_vocabulary", "fit_speaker_pca"]
    spec: dict[str, Any] | str = Field(description="the job spec: YAML/JSON text, or a JSON object")
    callback_url: str = Field("", max_length=2048, description="signed POST on completion, failure or cancel")
    idempotency_key: str = Field("", max_length=256, description="a repeated key returns the job it created")
    labels: dict[str, str] = Field(default_factory=dict)

    def options(self) -> jobs_pb2.SubmitOptions:
        return jobs_pb2.SubmitOptions(callback_url=self.callback_url, idempotency_key=self.idempotency_key,
                                      labels=self.labels)

    def job_spec(self, spec: dict[str, Any] | str | None = None) -> jobs_pb2.JobSpec:
        spec = self.spec if spec is None else spec
        if isinstance(spec, str):
            return jobs_pb2.JobSpec(text=spec)
        return jobs_pb2.JobSpec(format=jobs_pb2.SPEC_FORMAT_JSON, text=json.dumps(spec))

    def mapping(self) -> dict[str, Any]:
        return dict(read_mapping(self.spec if isinstance(self.spec, dict) else self.spec + "\n", self.kind))

    def rpc(self) -> tuple[str, Message]:
        """(ser.v1.Jobs method name, its request)."""
        if self.kind == "train":
            return "SubmitTraining", jobs_pb2.SubmitTrainingRequest(spec=self.job_spec(), options=self.options())
        if self.kind == "eval":
            return "SubmitEvaluation", jobs_pb2.SubmitEvaluationRequest(spec=self.job_spec(), options=self.options())
        if self.kind.startswith("fit"):
            return "SubmitFit", self._fit()
        return "SubmitBatchAnalysis", self._batch()

    def _fit(self) -> jobs_pb2.SubmitFitRequest:
        spec = self.mapping()
        target = self.kind.removeprefix("fit_") if self.kind != "fit" else str(spec.pop("target", ""))
        if target not in FIT_TARGETS:
            raise SpecError(f"a fit job needs `target` in its spec: one of {sorted(FIT_TARGETS)}")
        spec.pop("target", None)
        return jobs_pb2.SubmitFitRequest(target=FIT_TARGETS[target], spec=self.job_spec(spec),
                                         options=self.options())

    def _batch(self) -> jobs_pb2.SubmitBatchAnalysisRequest:
        spec = self.mapping()
        unknown = set(spec) - BATCH_KEYS
        if unknown:
            raise SpecError(f"batch_analysis spec: unknown field(s) {sorted(unknown)}; known: {sorted(BATCH_KEYS)}")
        inputs = spec.get("inputs") or []
        if not isinstance(inputs, list) or len(inputs) > 1:
            raise SpecError("batch_analysis spec: `inputs` takes one path; give a folder or manifest for more")
        source = spec.get("manifest") or spec.get("input") or (inputs[0] if inputs else "")
        if not isinstance(source, str) or not source:
            raise SpecError("batch_analysis spec needs `manifest` (a folder, a list or JSONL manifest, or one file)")
        mode = spec.get("mode", "analyze")
        if mode not in BATCH_MODES:
            raise SpecError(f"batch_analysis spec: mode {mode!r} is not one of {sorted(BATCH_MODES)}")
        try:  # a bad model reference stays its own SpecError
            options = analyze_options(spec.get("options"), str(spec["model"]) if spec.get("model") else None)
        except (ValueError, ParseError, TypeError, AttributeError) as exc:
            raise SpecError(f"batch_analysis spec: options are not ser.v1.AnalyzeOptions: {exc}") from None
        return jobs_pb2.SubmitBatchAnalysisRequest(
            input=source, output_dir=str(spec.get("output_dir") or ""), mode=BATCH_MODES[mode], options=options,
            redo_finished=bool(spec.get("redo_finished", False)), submit=self.options())
