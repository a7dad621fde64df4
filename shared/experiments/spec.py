"""Experiment specs (YAML recipes), validated up front so a typo fails before hours of training."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import SpecError
from shared.paths import PathPolicy, path_parameters
from shared.spec_io import read_mapping, validate_model

PROTOCOLS = ("cross_corpus", "leave_one_corpus_out", "leave_one_speaker_out", "speaker_kfold",
             "leave_one_language_out", "pretrain_finetune_kfold", "final_fit", "test_only")
BASELINE_PREFIX = "baseline:"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusRef(_Spec):
    """A corpus: a loader name (``savee``, ``ravdess``...), its root folder and loader options."""

    name: str = Field(min_length=1)
    root: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    def confined(self, paths: PathPolicy) -> Self:
        """The ref with its root and every option its loader types as a path expanded, resolved and checked
        against the data roots, so the loader opens nothing a spec named outside them (``PathPolicy.read``)."""
        from shared.corpora.registry import check_options, path_options

        check_options(self.name, self.options)
        return self.model_copy(update={"root": str(paths.corpus_root(self.root)),
                                       "options": paths.read_options(self.options, path_options(self.name))})

    def resolved_root(self, paths: PathPolicy | None = None) -> Path:
        """The root with ``${SER_CORPORA}`` (default ../shared/corpora), ``${HOME}`` and ``${SER_DATA_ROOTS}``
        expanded and nothing else (``shared.paths``); ``paths`` default: this process's settings."""
        if paths is None:
            from shared.settings import Settings

            paths = PathPolicy.from_settings(Settings.from_env())
        return Path(paths.expand(self.root)).expanduser()


class ProtocolSpec(_Spec):
    kind: Literal[PROTOCOLS]  # type: ignore[valid-type]
    params: dict[str, Any] = Field(default_factory=dict)


class ModelSection(_Spec):
    """``architecture`` is a registry name, or ``baseline:FEATURES+CLASSIFIER`` for a classical
    baseline (see ``shared.experiments.baselines``). With a protocol that has a pretraining part
    (``pretrain_finetune_kfold``), ``pretrain_architecture`` is trained once on it, its weights
    (all but the classifier) are loaded into ``architecture`` for every fold, and ``freeze``
    names the model's ``freeze_until_<freeze>`` method to call before fine-tuning. Without
    ``pretrain_architecture`` such a protocol trains ``architecture`` from scratch on each fold
    (the paper's "pure" ablation row) and says so in the report."""

    architecture: str
    overrides: dict[str, Any] = Field(default_factory=dict)
    pretrain_architecture: str | None = None
    pretrain_overrides: dict[str, Any] = Field(default_factory=dict)
    freeze: str | None = Field(None, description="e.g. first_va_block -> model.freeze_until_first_va_block()")

    def confined(self, paths: PathPolicy) -> Self:
        """The section with every override its builder types as a path (``weights_path``, ``pretrained_path``)
        confined as a read, so a spec cannot load weights from outside the data roots."""
        return self.model_copy(update={
            "overrides": _confined_overrides(self.architecture, self.overrides, paths),
            "pretrain_overrides": _confined_overrides(self.pretrain_architecture, self.pretrain_overrides, paths)})

    @field_validator("freeze")
    @classmethod
    def _freeze_name(cls, value: str | None) -> str | None:
        if value is not None and not value.replace("_", "").isalnum():
            raise ValueError(f"freeze must be a plain name like first_va_block, got {value!r}")
        return value


def _confined_overrides(architecture: str | None, overrides: dict[str, Any], paths: PathPolicy) -> dict[str, Any]:
    """``overrides`` with the builder's path-typed parameters confined; the builder is imported (torch) only
    when there are overrides to check, and an unknown architecture is left to the run to refuse."""
    if not overrides or architecture is None or architecture.startswith(BASELINE_PREFIX):
        return overrides
    import importlib

    from shared.models.registry import ARCHITECTURES

    spec = ARCHITECTURES.get(architecture)
    if spec is None:
        return overrides
    module, attr = spec.builder.split(":")
    return paths.read_options(overrides, path_parameters(getattr(importlib.import_module(module), attr)))


class SpeakerSection(_Spec):
    encoder: str = "ge2e"
    pca_width: int | None = Field(None, description="default: the model's speaker_dim")


class BovwSection(_Spec):
    k: int = Field(128, ge=2)
    k_candidates: list[int] | None = Field(None, description="choose k by mean silhouette among these")
    max_images: int = Field(2000, ge=10, description="training images sampled to fit the vocabulary")


class ServingSection(_Spec):
    """How the published model is served (the card's ``serving``). ``uncertain_below``: a segment whose
    calibrated top probability is below it is marked uncertain (chosen out of fold by
    tests/bench/bench_callers.py; 0 marks none)."""

    uncertain_below: float = Field(0.0, ge=0.0, lt=1.0)


class PublishSection(_Spec):
    name: str
    promote: str | None = "default"
    serving: ServingSection = Field(default_factory=ServingSection)


class ExperimentSpec(_Spec):
    name: str
    description: str = ""
    paper: str = ""
    corpora: list[CorpusRef]
    missing_corpora: Literal["skip", "error"] = "skip"
    label_map: str = "4class"
    protocol: ProtocolSpec
    inputs: dict[str, Any] = Field(default_factory=dict)
    model: ModelSection | None = Field(None, description="required to train; `ser eval` takes it from the model card")
    training: dict[str, Any] = Field(default_factory=dict)
    balancing: Literal["none", "undersample", "oversample"] = "none"
    augment: dict[str, Any] = Field(default_factory=dict, description="AugmentConfig for oversampled copies")
    augment_copies: int = Field(0, ge=0, le=8, description="extra seeded augmented copies of every training clip "
                                "(offline augmentation with `augment`, e.g. telephone_p: 0.5)")
    normalization: Literal["none", "per_corpus", "per_speaker"] = "none"
    speaker: SpeakerSection = SpeakerSection()
    bovw: BovwSection = BovwSection()
    seed: int = 0
    max_per_class: int | None = Field(None, ge=1, description="cap per class and corpus, for quick runs")
    pretrain_label_map: str | None = Field(None, description="classes of the pretraining phase (default: label_map)")
    pretrain_training: dict[str, Any] = Field(default_factory=dict,
                                              description="phase-1 train config, merged over `training`")
    pretrain_valid_speaker_fraction: float = Field(0.0, ge=0.0, lt=1.0,
                                                   description="source speakers held out for phase-1 early stopping")
    tsne: bool = True
    publish: PublishSection | None = None
    evaluate_model: str | None = Field(None, description="NAME[:VERSION] of a registry model for `ser eval`")

    @field_validator("corpora")
    @classmethod
    def _unique(cls, value: list[CorpusRef]) -> list[CorpusRef]:
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"corpora listed twice: {names}")
        if not value:
            raise ValueError("at least one corpus is needed")
        return value

    @model_validator(mode="after")
    def _pretraining_fits_protocol(self) -> ExperimentSpec:
        if self.model is None:
            if not self.evaluate_model:
                raise ValueError("model is required (only `ser eval` with evaluate_model takes it from the card)")
            return self
        if self.model.pretrain_architecture and self.protocol.kind != "pretrain_finetune_kfold":
            raise ValueError(f"model.pretrain_architecture needs protocol pretrain_finetune_kfold, "
                             f"not {self.protocol.kind}")
        if self.model.freeze and not self.model.pretrain_architecture:
            raise ValueError("model.freeze without model.pretrain_architecture would freeze random weights")
        return self

    @property
    def is_baseline(self) -> bool:
        return self.model is not None and self.model.architecture.startswith(BASELINE_PREFIX)

    def confined(self, paths: PathPolicy) -> Self:
        """The spec with each corpus (root and path-typed options, ``CorpusRef.confined``) expanded, resolved
        and checked against the data roots, so the run reads exactly what was checked (the files a corpus
        lists are checked when it is loaded)."""
        return self.model_copy(update={"corpora": [c.confined(paths) for c in self.corpora],
                                       "model": self.model and self.model.confined(paths)})


def load_spec(source: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None) -> ExperimentSpec:
    """Parse and validate a spec from a file, YAML text or a dict; SpecError names every problem."""
    data = _merge(read_mapping(source, "experiment"), overrides or {})
    return validate_model(ExperimentSpec, data, "experiment")


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` (e.g. from ``--set training.max_epochs=2``) into ``base``."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["training.max_epochs=2", "seed=1"]`` -> nested dict with YAML-typed values."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SpecError(f"override {pair!r} is not key=value")
        key, raw = pair.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return out
