"""The canonical emotion taxonomy and the named label maps of the papers.

Every loader translates its corpus codes into ``CANONICAL_LABELS``; experiments then choose a
named ``LabelMap`` that folds canonical labels into the classes they train on. The papers disagree
(boredom is *negative* in the Speaker CCT paper and *neutral* in Parry et al.), so each variant is
its own named map and nothing is picked silently. Items whose label a map does not cover are
dropped and counted, never relabelled.

Calm (RAVDESS calm; TurEV-DB's calm, which stands in for the neutral class that corpus lacks) is
the same kind of choice. Loaders keep it as ``calm`` (RAVDESS can also merge it at load time with
its explicit ``calm_as`` option; TurEV-DB has no such option), and the maps say what happens:

- ``4class``: calm is dropped (and counted), so TurEV-DB contributes angry, happy and sad only;
- ``4class-calm-as-neutral``: the same 4 classes in the same order, with calm counted as neutral
  (for TurEV-DB, and for RAVDESS loaded with the default ``calm_as="calm"``);
- ``3class-parry``: calm is neutral; ``3class-speakercct``: calm is dropped; ``7class`` and
  ``6class-emodb-loso``: calm is dropped.
"""
from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from shared.corpora.items import Manifest
from shared.errors import SpecError

CANONICAL_LABELS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fear",
    "disgust",
    "surprise",
    "boredom",
    "frustration",
    "excited",
    "interest",
    "guilt",
    "contempt",
)

# Common spellings and corpus abbreviations of the canonical labels (lower-case keys), used by
# the generic CSV loader. A name not listed here gets no canonical label: it is not guessed.
SYNONYMS: Mapping[str, str] = MappingProxyType(
    {
        **{name: name for name in CANONICAL_LABELS},
        "neu": "neutral",
        "anger": "angry",
        "ang": "angry",
        "happiness": "happy",
        "hap": "happy",
        "joy": "happy",
        "sadness": "sad",
        "fearful": "fear",
        "fea": "fear",
        "disgusted": "disgust",
        "dis": "disgust",
        "surprised": "surprise",
        "sur": "surprise",
        "pleasant_surprise": "surprise",
        "pleasant surprise": "surprise",
        "ps": "surprise",
        "bored": "boredom",
        "frustrated": "frustration",
        "fru": "frustration",
        "excitement": "excited",
        "exc": "excited",
        "interested": "interest",
    }
)

# Approximate (valence, arousal) in [-1, 1] on Russell's circumplex, for call-analytics summaries
# (a posterior-weighted average over classes). They are coarse placements, not measurements.
VALENCE_AROUSAL: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "neutral": (0.0, 0.0),
        "calm": (0.3, -0.6),
        "happy": (0.8, 0.5),
        "sad": (-0.7, -0.4),
        "angry": (-0.6, 0.8),
        "fear": (-0.6, 0.6),
        "disgust": (-0.7, 0.3),
        "surprise": (0.3, 0.8),
        "boredom": (-0.3, -0.7),
        "frustration": (-0.5, 0.4),
        "excited": (0.7, 0.8),
        "interest": (0.4, 0.3),
        "guilt": (-0.6, -0.2),
        "contempt": (-0.6, 0.2),
        # class names of the 3-class maps
        "positive": (0.7, 0.3),
        "negative": (-0.6, 0.3),
    }
)

UNLABELLED = "<unlabelled>"


def canonical_label(name: str) -> str | None:
    """The canonical label for a common spelling (``"Anger"`` -> ``"angry"``), else ``None``."""
    return SYNONYMS.get(name.strip().lower())


def valence_arousal(label: str) -> tuple[float, float]:
    try:
        return VALENCE_AROUSAL[label]
    except KeyError as exc:
        raise SpecError(f"no valence/arousal coordinates for label {label!r}") from exc


def expected_valence_arousal(posteriors: Mapping[str, float]) -> tuple[float, float]:
    """Posterior-weighted (valence, arousal) of one segment, e.g. ``{"angry": 0.7, "neutral": 0.3}``."""
    total = sum(posteriors.values())
    if total <= 0:
        raise SpecError("posteriors must have a positive sum")
    v = sum(p * valence_arousal(c)[0] for c, p in posteriors.items()) / total
    a = sum(p * valence_arousal(c)[1] for c, p in posteriors.items()) / total
    return v, a


@dataclass(frozen=True)
class LabelMap:
    """Folds canonical labels into target classes. Validated at construction against typos."""

    name: str
    mapping: Mapping[str, str] = field(hash=False)
    classes: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mapping", MappingProxyType(dict(self.mapping)))
        object.__setattr__(self, "classes", tuple(self.classes))
        bad_keys = [k for k in self.mapping if k not in CANONICAL_LABELS]
        if bad_keys:
            raise SpecError(
                f"label map {self.name!r}: {bad_keys} are not canonical labels"
                f"{_suggest(bad_keys[0], CANONICAL_LABELS)}; canonical: {list(CANONICAL_LABELS)}"
            )
        if len(set(self.classes)) != len(self.classes):
            raise SpecError(f"label map {self.name!r}: duplicate classes in {self.classes}")
        bad_targets = sorted({v for v in self.mapping.values() if v not in self.classes})
        if bad_targets:
            raise SpecError(
                f"label map {self.name!r}: targets {bad_targets} are not among its classes "
                f"{list(self.classes)}{_suggest(bad_targets[0], self.classes)}"
            )
        unused = [c for c in self.classes if c not in self.mapping.values()]
        if unused:
            raise SpecError(f"label map {self.name!r}: classes {unused} receive no label")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, target: str) -> int:
        return self.classes.index(target)

    def map_label(self, canonical: str | None) -> str | None:
        return None if canonical is None else self.mapping.get(canonical)

    def apply(self, manifest: Manifest) -> tuple[Manifest, dict[str, int]]:
        """(mapped manifest, dropped counts keyed by the canonical label or ``<unlabelled>:orig``)."""
        if manifest.classes is not None:
            raise SpecError(
                f"manifest already mapped to classes {list(manifest.classes)}; apply {self.name!r} "
                "to the canonical manifest instead"
            )
        kept = []
        dropped: Counter[str] = Counter()
        for item in manifest:
            target = self.map_label(item.label)
            if target is None:
                dropped[item.label if item.label is not None else f"{UNLABELLED}:{item.label_original}"] += 1
                continue
            extra = {**item.extra, "canonical_label": item.label}
            kept.append(replace(item, label=target, extra=extra))
        out = replace(manifest, items=tuple(kept), classes=self.classes)
        return out, dict(sorted(dropped.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "mapping": dict(self.mapping),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelMap:
        try:
            return cls(
                name=str(d["name"]),
                mapping=dict(d["mapping"]),
                classes=tuple(d["classes"]),
                description=str(d.get("description", "")),
            )
        except KeyError as exc:
            raise SpecError(f"label map spec is missing {exc.args[0]!r}") from exc


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _identity(name: str, classes: tuple[str, ...], description: str) -> LabelMap:
    return LabelMap(name, {c: c for c in classes}, classes, description)


def _valence(name: str, groups: Mapping[str, tuple[str, ...]], description: str) -> LabelMap:
    mapping = {label: cls for cls, labels in groups.items() for label in labels}
    return LabelMap(name, mapping, ("negative", "neutral", "positive"), description)


NAMED_LABEL_MAPS: Mapping[str, LabelMap] = MappingProxyType(
    {
        m.name: m
        for m in (
            _identity(
                "4class",
                ("angry", "happy", "sad", "neutral"),
                "The usual 4 classes. Calm, excited and the rest are dropped, not merged: merge them "
                "at load time with the loaders' explicit options (calm_as, exc_as), or use "
                "'4class-calm-as-neutral'. TurEV-DB's calm is dropped too (that corpus has no neutral).",
            ),
            LabelMap(
                "4class-calm-as-neutral",
                {"angry": "angry", "happy": "happy", "sad": "sad", "neutral": "neutral", "calm": "neutral"},
                ("angry", "happy", "sad", "neutral"),
                "4class with calm counted as neutral (RAVDESS calm, TurEV-DB calm, which stands in "
                "for the neutral class TurEV-DB lacks). Excited and the rest are still dropped.",
            ),
            _identity(
                "7class",
                ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"),
                "The big six plus neutral.",
            ),
            _identity(
                "6class-emodb-loso",
                ("neutral", "happy", "sad", "angry", "fear", "disgust"),
                "Speaker CCT Table 4 (LOSO on EmoDB): the paper's 'all classes' set "
                "(happy, sad, neutral, anger, disgust, fearful, surprised) restricted to what EmoDB "
                "has, so boredom is dropped (EmoDB has no surprise).",
            ),
            _valence(
                "3class-parry",
                {
                    "positive": ("happy", "excited", "surprise"),
                    "neutral": ("neutral", "calm", "boredom", "interest"),
                    "negative": ("angry", "sad", "fear", "disgust", "frustration", "guilt", "contempt"),
                },
                "Parry et al. 2019: boredom, calm and interest count as neutral. Surprise is "
                "mapped to positive (the acted corpora's surprise is mostly pleasant; TESS says so).",
            ),
            _valence(
                "3class-speakercct",
                {
                    "positive": ("happy", "excited", "surprise"),
                    "neutral": ("neutral",),
                    "negative": ("angry", "sad", "fear", "disgust", "frustration", "boredom"),
                },
                "Speaker CCT paper, Table 5: boredom is negative; surprise and excited are positive "
                "(as in the authors' split script). Calm is not in their table and is dropped "
                "(load RAVDESS with calm_as='neutral' to keep it as neutral).",
            ),
        )
    }
)


def get_label_map(name: str) -> LabelMap:
    try:
        return NAMED_LABEL_MAPS[name]
    except KeyError as exc:
        raise SpecError(
            f"unknown label map {name!r}{_suggest(name, tuple(NAMED_LABEL_MAPS))}; "
            f"known: {sorted(NAMED_LABEL_MAPS)}"
        ) from exc
