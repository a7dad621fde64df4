"""The classical baseline: any fixed feature matrix + logistic regression or a random forest.

Features are computed elsewhere (eGeMAPS functionals, speaker embeddings, emobase ...); this module
takes the matrix. The normalisation mode is the variable under study (issue 4 measured 41.9% /
64.4% / 71.3% UAR for none / per-corpus / per-speaker on RAVDESS+TESS -> SAVEE, 4 classes).
``none`` means raw features go to the classifier; the other modes standardise as described in
``normalization``. The random forest (100 trees, depth 5) is the wav2vec2 paper's baseline.
Logistic regression uses ``class_weight="balanced"`` by default, so the majority class of the
aggregated training corpora does not dominate; set ``class_weight=None`` to switch it off.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from shared.corpora.items import Manifest
from shared.errors import InvalidInput, SpecError
from shared.evaluation.metrics import Metrics, compute_metrics
from shared.evaluation.normalization import FeatureNormalizer, check_mode
from shared.evaluation.protocols import Split
from shared.evaluation.reports import FoldResult, Report

CLASSIFIERS = ("logreg", "random_forest")
Features = Callable[[Manifest], np.ndarray] | Mapping[str, np.ndarray]


@dataclass(frozen=True)
class BaselineConfig:
    classifier: str = "logreg"
    normalization: str = "per_speaker"
    seed: int = 0
    C: float = 1.0
    max_iter: int = 2000
    class_weight: str | None = "balanced"
    n_estimators: int = 100
    max_depth: int | None = 5

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise SpecError(f"classifier={self.classifier!r} is not one of {list(CLASSIFIERS)}")
        check_mode(self.normalization)

    @property
    def name(self) -> str:
        return f"{self.classifier}[{self.normalization}]"


class ClassicalBaseline:
    """Normaliser + sklearn classifier, fitted on training features only."""

    def __init__(self, config: BaselineConfig = BaselineConfig()) -> None:
        self.config = config
        self.normalizer = FeatureNormalizer(config.normalization)
        self.model = self._make_model()

    def _make_model(self):  # noqa: ANN202 - an sklearn estimator
        c = self.config
        if c.classifier == "logreg":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=c.C, max_iter=c.max_iter, class_weight=c.class_weight, random_state=c.seed)
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=c.n_estimators, max_depth=c.max_depth, random_state=c.seed, n_jobs=1
        )

    def fit(
        self, x: np.ndarray, labels: Sequence[str], corpora: Sequence[str], speakers: Sequence[str]
    ) -> ClassicalBaseline:
        z = self.normalizer.fit(x, corpora).transform(x, corpora, speakers)
        self.model.fit(z, np.asarray(labels))
        return self

    def predict(self, x: np.ndarray, corpora: Sequence[str], speakers: Sequence[str]) -> np.ndarray:
        return self.model.predict(self.normalizer.transform(x, corpora, speakers))

    def fit_manifest(self, x: np.ndarray, manifest: Manifest) -> ClassicalBaseline:
        return self.fit(x, _labels(manifest), [i.corpus for i in manifest], [i.speaker_key for i in manifest])

    def predict_manifest(self, x: np.ndarray, manifest: Manifest) -> np.ndarray:
        return self.predict(x, [i.corpus for i in manifest], [i.speaker_key for i in manifest])


def _labels(manifest: Manifest) -> list[str]:
    labels = [i.label for i in manifest]
    if any(lab is None for lab in labels):
        raise InvalidInput("manifest has unlabelled items; apply a LabelMap first")
    return labels  # type: ignore[return-value]


def feature_matrix(features: Features, manifest: Manifest) -> np.ndarray:
    """Rows aligned with ``manifest``: from a callable, or a mapping of item key -> vector."""
    if callable(features):
        x = np.asarray(features(manifest), dtype=np.float64)
    else:
        missing = [i.key for i in manifest if i.key not in features]
        if missing:
            raise InvalidInput(f"no features for {len(missing)} item(s), e.g. {missing[0]}")
        x = np.stack([np.asarray(features[i.key], dtype=np.float64) for i in manifest])
    if len(x) != len(manifest):
        raise InvalidInput(f"{len(x)} feature rows for {len(manifest)} items")
    return x


def evaluate_split(split: Split, features: Features, config: BaselineConfig, classes: Sequence[str]) -> Metrics:
    """Fit on the split's training part (validation is unused), score on its test part."""
    if split.sees_target_labels and split.pretrain is not None:
        train = Manifest.concat([split.pretrain, split.train])
    else:
        train = split.train
    model = ClassicalBaseline(config).fit_manifest(feature_matrix(features, train), train)
    predicted = model.predict_manifest(feature_matrix(features, split.test), split.test)
    return compute_metrics(_labels(split.test), list(predicted), classes)


def run_baseline(
    splits: Sequence[Split],
    features: Features,
    config: BaselineConfig,
    classes: Sequence[str],
    title: str = "",
    feature_name: str = "features",
) -> Report:
    folds = [FoldResult.of(s, evaluate_split(s, features, config, classes)) for s in splits]
    protocol = splits[0].protocol if splits else ""
    return Report(
        title=title or f"{feature_name} + {config.name} ({protocol})",
        model=f"{feature_name}+{config.name}",
        protocol=protocol,
        folds=folds,
        metadata={"baseline_config": asdict(config)},
    )
