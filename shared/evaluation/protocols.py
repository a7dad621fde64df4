"""Speaker-independent evaluation protocols. Each returns a list of ``Split`` objects.

Every split asserts at construction that no speaker (corpus/speaker key) is shared between
train, validation, pretraining and test parts, and serialises itself (``to_dict``) so reports
carry the exact split they were computed on. Normalisation is part of a split's spec.

Protocols:
- ``cross_corpus``: train on corpora A, test on each corpus of B (Speaker CCT Table 2).
- ``leave_one_corpus_out``: test on one corpus, validate on a *rotating* other corpus, train on
  the rest (Speaker CCT Table 3).
- ``leave_one_speaker_out``: within one corpus; validation on the next speaker in order.
- ``speaker_kfold``: speakers shuffled with a seed and assigned to k folds of similar size.
- ``leave_one_language_out``: optional repetition of low-resource languages' corpora so the
  training languages are balanced (wav2vec2 + Deep-WCCN).
- ``test_only``: evaluate a registered model on corpora (``ser eval``); trains nothing.
- ``final_fit``: train on everything to ship a model; its "test" is the training data (fit check).
- ``pretrain_finetune_kfold``: pretrain on source corpora, fine-tune k-fold on the target
  (VACNN). Its splits carry ``sees_target_labels=True``; reports keep them apart from zero-shot
  results.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.corpora.items import Manifest
from shared.errors import SpecError
from shared.evaluation.normalization import check_mode


class SpeakerLeak(SpecError):
    """A speaker appears on both sides of a split."""

    code = "speaker_leak"


def _part_summary(m: Manifest) -> dict[str, Any]:
    keys = sorted(i.key for i in m)
    return {
        "items": len(m),
        "per_corpus": m.counts("corpus"),
        "per_label": m.counts("label"),
        "speakers": sorted(m.speaker_keys),
        "digest": hashlib.sha1("\n".join(keys).encode()).hexdigest()[:16],
    }


@dataclass(frozen=True)
class Split:
    name: str
    train: Manifest
    valid: Manifest | None
    test: Manifest
    description: str = ""
    protocol: str = ""
    pretrain: Manifest | None = None
    sees_target_labels: bool = False
    normalization: str = "none"
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        check_mode(self.normalization)
        if len(self.test) == 0:
            raise SpecError(f"split {self.name!r}: empty test set")
        if len(self.train) == 0 and self.pretrain is None and self.protocol != "test_only":
            raise SpecError(f"split {self.name!r}: empty training set")
        parts = {"train": self.train, "valid": self.valid, "test": self.test, "pretrain": self.pretrain}
        if self.protocol == "final_fit":  # its test part is the training data by definition: a fit check
            parts["test"] = None
        for a, b in (("train", "test"), ("valid", "test"), ("pretrain", "test"), ("train", "valid")):
            ma, mb = parts[a], parts[b]
            if ma is None or mb is None:
                continue
            shared = ma.speaker_keys & mb.speaker_keys
            if shared:
                raise SpeakerLeak(f"split {self.name!r}: speakers {sorted(shared)[:5]} in both {a} and {b}")

    @property
    def test_corpora(self) -> list[str]:
        return self.test.corpora

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "protocol": self.protocol,
            "description": self.description,
            "sees_target_labels": self.sees_target_labels,
            "normalization": self.normalization,
            "details": self.details,
        }
        for part in ("pretrain", "train", "valid", "test"):
            m = getattr(self, part)
            out[part] = None if m is None else _part_summary(m)
        return out


def _need_corpora(manifest: Manifest, names: Sequence[str]) -> None:
    missing = sorted(set(names) - set(manifest.corpora))
    if missing:
        raise SpecError(f"corpora {missing} are not in the manifest (it has {manifest.corpora})")


def _hold_out_speakers(manifest: Manifest, fraction: float, rng: random.Random) -> tuple[Manifest, Manifest | None]:
    """(rest, validation) with a seeded fraction of speakers held out; at least one if fraction > 0."""
    if fraction <= 0:
        return manifest, None
    if not 0 < fraction < 1:
        raise SpecError(f"valid_speaker_fraction must be in [0, 1), got {fraction}")
    speakers = sorted(manifest.speaker_keys)
    if len(speakers) < 2:
        raise SpecError("cannot hold out validation speakers from fewer than 2 speakers")
    rng.shuffle(speakers)
    n_valid = min(len(speakers) - 1, max(1, round(fraction * len(speakers))))
    valid = set(speakers[:n_valid])
    return (
        manifest.filter(predicate=lambda i: i.speaker_key not in valid),
        manifest.filter(speakers=valid),
    )


def cross_corpus(
    manifest: Manifest,
    train: Sequence[str],
    test: Sequence[str],
    *,
    valid_speaker_fraction: float = 0.0,
    seed: int = 0,
    normalization: str = "none",
) -> list[Split]:
    """Train on ``train`` corpora, one split per test corpus."""
    if set(train) & set(test):
        raise SpecError(f"corpora {sorted(set(train) & set(test))} are in both train and test")
    _need_corpora(manifest, [*train, *test])
    rest, valid = _hold_out_speakers(manifest.filter(corpus=train), valid_speaker_fraction, random.Random(seed))
    return [
        Split(
            name=f"{'+'.join(train)}->{t}",
            train=rest,
            valid=valid,
            test=manifest.filter(corpus=t),
            description=f"train on {', '.join(train)}; test on unseen corpus {t}",
            protocol="cross_corpus",
            normalization=normalization,
            details={"train_corpora": list(train), "test_corpus": t, "seed": seed},
        )
        for t in test
    ]


def leave_one_corpus_out(
    manifest: Manifest,
    corpora: Sequence[str] | None = None,
    *,
    rotate_validation: bool = True,
    normalization: str = "none",
) -> list[Split]:
    """Test on corpus i, validate on corpus i+1 (cyclically), train on the others."""
    corpora = list(corpora or manifest.corpora)
    _need_corpora(manifest, corpora)
    need = 3 if rotate_validation else 2
    if len(corpora) < need:
        raise SpecError(f"leave-one-corpus-out needs at least {need} corpora, got {corpora}")
    splits = []
    for i, test in enumerate(corpora):
        valid_c = corpora[(i + 1) % len(corpora)] if rotate_validation else None
        train_c = [c for c in corpora if c not in (test, valid_c)]
        splits.append(
            Split(
                name=f"loco-{test}",
                train=manifest.filter(corpus=train_c),
                valid=manifest.filter(corpus=valid_c) if valid_c else None,
                test=manifest.filter(corpus=test),
                description=f"train on {', '.join(train_c)}"
                + (f"; validate on {valid_c}" if valid_c else "")
                + f"; test on {test}",
                protocol="leave_one_corpus_out",
                normalization=normalization,
                details={"train_corpora": train_c, "valid_corpus": valid_c, "test_corpus": test},
            )
        )
    return splits


def final_fit(
    manifest: Manifest,
    corpora: Sequence[str] | None = None,
    *,
    normalization: str = "none",
) -> list[Split]:
    """Train on every clip of ``corpora`` to ship a model. The test part is the training data itself,
    so its metrics are a fit check, never a generalisation estimate: that is what the
    leave-one-corpus-out run of the same recipe is for."""
    corpora = list(corpora or manifest.corpora)
    _need_corpora(manifest, corpora)
    everything = manifest.filter(corpus=corpora)
    return [Split(name="final-fit", train=everything, valid=None, test=everything,
                  description=f"train on all of {', '.join(corpora)}; test = training data (fit check only)",
                  protocol="final_fit", normalization=normalization,
                  details={"train_corpora": corpora, "test_is_training_data": True})]


def test_only(
    manifest: Manifest,
    corpora: Sequence[str] | None = None,
    *,
    normalization: str = "none",
) -> list[Split]:
    """``ser eval`` of a registered model: one split per corpus, nothing trained."""
    corpora = list(corpora or manifest.corpora)
    _need_corpora(manifest, corpora)
    return [Split(name=f"test-{c}", train=manifest.filter(corpus=[]), valid=None, test=manifest.filter(corpus=c),
                  description=f"evaluate on {c}", protocol="test_only", normalization=normalization,
                  details={"test_corpus": c}) for c in corpora]


def leave_one_speaker_out(
    manifest: Manifest,
    corpus: str | None = None,
    *,
    validate_on_next_speaker: bool = True,
    normalization: str = "none",
) -> list[Split]:
    """One split per speaker of a corpus (LOSO); validation on the next speaker in order."""
    if corpus is None:
        if len(manifest.corpora) != 1:
            raise SpecError(f"LOSO runs within one corpus; name one of {manifest.corpora}")
        corpus = manifest.corpora[0]
    _need_corpora(manifest, [corpus])
    data = manifest.filter(corpus=corpus)
    speakers = sorted(data.speaker_keys)
    if len(speakers) < (3 if validate_on_next_speaker else 2):
        raise SpecError(f"{corpus}: too few speakers for LOSO ({speakers})")
    splits = []
    for i, spk in enumerate(speakers):
        val_spk = speakers[(i + 1) % len(speakers)] if validate_on_next_speaker else None
        splits.append(
            Split(
                name=f"loso-{spk}",
                train=data.filter(predicate=lambda it, s=spk, v=val_spk: it.speaker_key not in (s, v)),
                valid=data.filter(speakers=[val_spk]) if val_spk else None,
                test=data.filter(speakers=[spk]),
                description=f"{corpus}: test on speaker {spk}" + (f", validate on {val_spk}" if val_spk else ""),
                protocol="leave_one_speaker_out",
                normalization=normalization,
                details={"corpus": corpus, "test_speaker": spk, "valid_speaker": val_spk},
            )
        )
    return splits


def speaker_folds(manifest: Manifest, k: int, seed: int) -> list[set[str]]:
    """Speaker keys in k folds: seeded shuffle, then each speaker (largest first) to the lightest fold."""
    speakers = sorted(manifest.speaker_keys)
    if k < 2 or k > len(speakers):
        raise SpecError(f"k={k} folds needs 2 <= k <= number of speakers ({len(speakers)})")
    random.Random(seed).shuffle(speakers)
    size = manifest.counts("speaker")
    order = sorted(speakers, key=lambda s: -size[s])  # stable: ties keep the shuffled order
    folds: list[set[str]] = [set() for _ in range(k)]
    load = [0] * k
    for s in order:
        j = min(range(k), key=lambda f: (load[f], len(folds[f])))
        folds[j].add(s)
        load[j] += size[s]
    return folds


def speaker_kfold(
    manifest: Manifest,
    k: int = 5,
    *,
    seed: int = 0,
    valid_speaker_fraction: float = 0.0,
    normalization: str = "none",
    name_prefix: str = "fold",
) -> list[Split]:
    """Speaker-independent k-fold (GroupKFold by speaker key, seeded)."""
    splits = []
    for j, fold in enumerate(speaker_folds(manifest, k, seed)):
        rest = manifest.filter(predicate=lambda i, f=fold: i.speaker_key not in f)
        train, valid = _hold_out_speakers(rest, valid_speaker_fraction, random.Random(seed * 1000 + j))
        splits.append(
            Split(
                name=f"{name_prefix}-{j + 1}of{k}",
                train=train,
                valid=valid,
                test=manifest.filter(speakers=fold),
                description=f"speaker-independent fold {j + 1} of {k} (seed {seed})",
                protocol="speaker_kfold",
                normalization=normalization,
                details={"k": k, "fold": j + 1, "seed": seed},
            )
        )
    return splits


def _balance_languages(train: Manifest) -> tuple[Manifest, dict[str, int]]:
    """Repeat each language's corpora an integer number of times towards the largest language."""
    per_lang = train.counts("language")
    biggest = max(per_lang.values())
    factors = {lang: max(1, round(biggest / n)) for lang, n in per_lang.items()}
    items = [i for i in train for _ in range(factors[i.language])]
    return train.with_items(items), factors


def leave_one_language_out(
    manifest: Manifest,
    languages: Sequence[str] | None = None,
    *,
    balance_languages: bool = False,
    valid_speaker_fraction: float = 0.0,
    seed: int = 0,
    normalization: str = "none",
) -> list[Split]:
    """Test on each language in turn, train on all other languages."""
    languages = list(languages or manifest.languages)
    if len(manifest.languages) < 2:
        raise SpecError(f"leave-one-language-out needs at least 2 languages, got {manifest.languages}")
    splits = []
    for lang in languages:
        if lang not in manifest.languages:
            raise SpecError(f"language {lang!r} not in the manifest ({manifest.languages})")
        others = manifest.filter(predicate=lambda i, lg=lang: i.language != lg)
        train, valid = _hold_out_speakers(others, valid_speaker_fraction, random.Random(seed))
        factors = {lg: 1 for lg in train.languages}
        if balance_languages:
            train, factors = _balance_languages(train)
        splits.append(
            Split(
                name=f"lolo-{lang}",
                train=train,
                valid=valid,
                test=manifest.filter(language=lang),
                description=f"train on languages {sorted(factors)}; test on {lang}"
                + (f"; repeated x{factors}" if balance_languages else ""),
                protocol="leave_one_language_out",
                normalization=normalization,
                details={"test_language": lang, "repeat_factors": factors, "seed": seed},
            )
        )
    return splits


def pretrain_finetune_kfold(
    manifest: Manifest,
    source: Sequence[str],
    target: str,
    k: int = 5,
    *,
    seed: int = 0,
    valid_speaker_fraction: float = 0.0,
    normalization: str = "none",
) -> list[Split]:
    """Pretrain on ``source`` corpora, then k-fold (by speaker) fine-tuning and testing on ``target``."""
    if target in source:
        raise SpecError(f"target corpus {target!r} is also a source corpus")
    _need_corpora(manifest, [*source, target])
    pretrain = manifest.filter(corpus=source)
    folds = speaker_kfold(
        manifest.filter(corpus=target),
        k,
        seed=seed,
        valid_speaker_fraction=valid_speaker_fraction,
        normalization=normalization,
    )
    return [
        Split(
            name=f"{'+'.join(source)}=>{target}-{f.name}",
            train=f.train,
            valid=f.valid,
            test=f.test,
            description=f"pretrain on {', '.join(source)}; fine-tune on {target} {f.description} "
            "(sees target labels: not a zero-shot result)",
            protocol="pretrain_finetune_kfold",
            pretrain=pretrain,
            sees_target_labels=True,
            normalization=normalization,
            details={**f.details, "source_corpora": list(source), "target_corpus": target},
        )
        for f in folds
    ]
