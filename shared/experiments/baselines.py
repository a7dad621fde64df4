"""Classical baselines run from a spec, so they land in the same reports and comparison tables as
the deep models: ``model.architecture: baseline:FEATURES+CLASSIFIER``.

FEATURES: ``egemaps`` (88) or ``emobase`` (988) openSMILE functionals, one vector per clip,
computed once and cached on disk by audio content (``FeatureCache``).
CLASSIFIER:
- ``random_forest``: 100 trees, depth 5 (the wav2vec2 + Deep-WCCN paper's baseline);
- ``logreg``: logistic regression, balanced class weights;
- ``wccn_logreg``: "WCCN on the linear path": normalise -> ``x @ B`` with B from ``wccn_fit``
  on the split's training part -> logistic regression.
Normalisation is the spec's (none / per_corpus / per_speaker), fitted as for the deep models.
``model.overrides`` set ``BaselineConfig`` fields (C, n_estimators, max_depth, class_weight)
and, for WCCN, ``wccn_beta``. Balancing does not apply (logreg weights classes instead).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from shared.corpora.items import Manifest
from shared.corpora.labels import get_label_map
from shared.errors import SpecError
from shared.evaluation.baseline import BaselineConfig, ClassicalBaseline
from shared.evaluation.metrics import compute_metrics
from shared.evaluation.protocols import Split
from shared.evaluation.reports import FoldResult, Report
from shared.experiments.data import AudioStore, load_manifest, make_splits
from shared.experiments.spec import BASELINE_PREFIX, ExperimentSpec
from shared.features.cache import FeatureCache, audio_hash
from shared.features.egemaps import FEATURE_SETS
from shared.features.inputs import SAMPLE_RATE
from shared.models.wccn import wccn_fit

BASELINE_CLASSIFIERS = ("random_forest", "logreg", "wccn_logreg")


@dataclass(frozen=True)
class BaselineName:
    features: str
    classifier: str

    @classmethod
    def parse(cls, architecture: str) -> BaselineName:
        body = architecture.removeprefix(BASELINE_PREFIX)
        features, _, classifier = body.partition("+")
        if features not in FEATURE_SETS or classifier not in BASELINE_CLASSIFIERS:
            raise SpecError(f"baseline {architecture!r} must be {BASELINE_PREFIX}FEATURES+CLASSIFIER with FEATURES in "
                            f"{list(FEATURE_SETS)} and CLASSIFIER in {list(BASELINE_CLASSIFIERS)}")
        return cls(features, classifier)

    @property
    def name(self) -> str:
        return f"{self.features}+{self.classifier}"


class WccnLinear:
    """Normaliser -> WCCN projection (fitted on training features and labels) -> logistic regression."""

    def __init__(self, config: BaselineConfig, beta: float = 0.0) -> None:
        self.inner = ClassicalBaseline(replace(config, classifier="logreg"))
        self.beta = beta
        self.B: np.ndarray | None = None

    def fit_manifest(self, x: np.ndarray, manifest: Manifest) -> WccnLinear:
        corpora, speakers = _groups(manifest)
        labels = np.asarray([str(i.label) for i in manifest])
        z = self.inner.normalizer.fit(x, corpora).transform(x, corpora, speakers)
        self.B = wccn_fit(z, labels, beta=self.beta)
        self.inner.model.fit(z @ self.B, labels)
        return self

    def predict_manifest(self, x: np.ndarray, manifest: Manifest) -> np.ndarray:
        assert self.B is not None, "fit first"
        corpora, speakers = _groups(manifest)
        return self.inner.model.predict(self.inner.normalizer.transform(x, corpora, speakers) @ self.B)


def _groups(manifest: Manifest) -> tuple[list[str], list[str]]:
    return [i.corpus for i in manifest], [i.speaker_key for i in manifest]


class FunctionalsFeatures:
    """Functionals of a manifest's clips, rows aligned with it; computed once per audio content."""

    def __init__(self, feature_set: str, store: AudioStore, cache: FeatureCache | None) -> None:
        import opensmile

        from shared.features.egemaps import FunctionalsExtractor

        self.extractor = FunctionalsExtractor(feature_set)
        self.store = store
        self.cache = cache
        self.config_hash = hashlib.sha1(f"opensmile-{opensmile.__version__}-{feature_set}-functionals".encode()
                                        ).hexdigest()
        self._by_key: dict[str, np.ndarray] = {}

    def __call__(self, manifest: Manifest) -> np.ndarray:
        rows = []
        for item in manifest:
            if item.key not in self._by_key:
                clip = self.store.get(item)
                if clip is None:
                    raise SpecError(f"{item.path} did not decode; load manifests through AudioStore.load first")
                self._by_key[item.key] = self._compute(clip)
            rows.append(self._by_key[item.key])
        return np.stack(rows).astype(np.float64) if rows else np.zeros((0, self.extractor.dim))

    def _compute(self, clip: np.ndarray) -> np.ndarray:
        if self.cache is None:
            return self.extractor(clip, SAMPLE_RATE)
        key = audio_hash(clip, SAMPLE_RATE)
        cached = self.cache.get(key, self.config_hash)
        if cached is not None:
            return cached
        value = self.extractor(clip, SAMPLE_RATE)
        self.cache.put(key, self.config_hash, value)
        return value


def baseline_config(spec: ExperimentSpec, classifier: str, normalization: str) -> tuple[BaselineConfig, float]:
    """``BaselineConfig`` from the spec (overrides checked against its fields) and the WCCN beta."""
    overrides = dict(spec.model.overrides)
    beta = float(overrides.pop("wccn_beta", 0.0))
    known = {f.name for f in fields(BaselineConfig)} - {"classifier", "normalization", "seed"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SpecError(f"unknown baseline overrides {unknown}; known: {sorted(known | {'wccn_beta'})}")
    base = "logreg" if classifier == "wccn_logreg" else classifier
    return BaselineConfig(classifier=base, normalization=normalization, seed=spec.seed, **overrides), beta


class BaselineRun:
    """One spec's baseline: per split, fit on the training part (plus the pretraining part under
    pretrain-then-fine-tune, as ``evaluate_split`` does), score the test clips, write the report."""

    def __init__(self, spec: ExperimentSpec, out_dir: Path, *, progress: Callable[[int, int, str], None],
                 cache_root: Path | None = None) -> None:
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.progress = progress
        self.name = BaselineName.parse(spec.model.architecture)
        baseline_config(spec, self.name.classifier, spec.normalization)  # fail on bad overrides now
        if cache_root is None:
            from shared.settings import Settings

            cache_root = Settings.from_env().artifacts_dir / "cache"
        self.cache = FeatureCache(Path(cache_root) / "functionals")
        self.audio = AudioStore()
        self.classes = list(get_label_map(spec.label_map).classes)

    def _classifier(self, normalization: str) -> ClassicalBaseline | WccnLinear:
        config, beta = baseline_config(self.spec, self.name.classifier, normalization)
        return WccnLinear(config, beta) if self.name.classifier == "wccn_logreg" else ClassicalBaseline(config)

    def run_split(self, split: Split, features: FunctionalsFeatures) -> FoldResult:
        started = time.perf_counter()
        train = split.train
        if split.sees_target_labels and split.pretrain is not None:
            train = Manifest.concat([split.pretrain, split.train])
        train, _ = self.audio.load(train)
        test, _ = self.audio.load(split.test)
        if len(train) == 0 or len(test) == 0:
            raise SpecError(f"split {split.name}: no decodable training or test audio")
        model = self._classifier(split.normalization).fit_manifest(features(train), train)
        predicted = model.predict_manifest(features(test), test)
        metrics = compute_metrics([str(i.label) for i in test], [str(p) for p in predicted], self.classes)
        return FoldResult.of(split, metrics, items={"train": len(train), "test": len(test)},
                             skipped_files=len(self.audio.failed), seconds=round(time.perf_counter() - started, 1))

    def run(self) -> tuple[Report, dict[str, Path]]:
        spec = self.spec
        started = time.perf_counter()
        data = load_manifest(spec)
        splits = make_splits(spec, data.manifest)
        features = FunctionalsFeatures(self.name.features, self.audio, self.cache)
        folds = []
        for n, split in enumerate(splits):
            self.progress(n, len(splits), f"{split.name}: {self.name.name}")
            folds.append(self.run_split(split, features))
        config, beta = baseline_config(spec, self.name.classifier, spec.normalization)
        metadata: dict[str, Any] = {
            "paper": spec.paper, "architecture": spec.model.architecture, "label_map": spec.label_map,
            "normalization": spec.normalization, "features": self.name.features,
            "feature_dim": features.extractor.dim, "classifier": self.name.classifier,
            "baseline_config": asdict(config) | ({"wccn_beta": beta} if self.name.classifier == "wccn_logreg" else {}),
            "balancing": f"not applied to baselines (spec said {spec.balancing})",
            "feature_cache": {"hits": self.cache.hits, "misses": self.cache.misses},
            "seconds": round(time.perf_counter() - started, 1), **data.info,
        }
        report = Report(title=spec.name, model=self.name.name, protocol=spec.protocol.kind, folds=folds,
                        metadata=metadata)
        paths = report.write(self.out_dir)
        self.progress(len(splits), len(splits), "report written")
        return report, paths
