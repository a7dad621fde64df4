"""Typed corpus items and the manifest that holds them.

A ``CorpusItem`` is one labelled stretch of speech (lhotse-style: it carries its channel, start and
duration, so a segment of a longer recording is an item too). A ``Manifest`` is an ordered,
immutable collection of items plus the bookkeeping that keeps loading honest: files that could not
be parsed and items dropped on purpose are counted, never silently lost.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from shared.errors import InvalidInput, NotFound

ITEM_FIELDS = ("corpus", "language", "speaker", "gender", "label_original", "label", "channel")


@dataclass(frozen=True)
class CorpusItem:
    """One labelled utterance (or segment) of a corpus.

    ``speaker`` is the corpus-local id; ``speaker_key`` (corpus/speaker) is the id that is unique
    across corpora and is what every speaker-independence check uses.
    ``label`` is the canonical emotion (see ``labels.CANONICAL_LABELS``), ``None`` when the
    original annotation has no canonical meaning (IEMOCAP ``xxx``); after a ``LabelMap`` has been
    applied it is the target class and ``extra["canonical_label"]`` keeps the canonical one.
    """

    path: Path
    corpus: str
    language: str
    speaker: str
    gender: str | None
    label_original: str
    label: str | None
    start_s: float = 0.0
    duration_s: float | None = None
    channel: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def speaker_key(self) -> str:
        return f"{self.corpus}/{self.speaker}"

    @property
    def key(self) -> str:
        """Identifies the audio this item points at (file, channel, start), e.g. for feature caches."""
        return f"{self.path}#{self.channel}@{self.start_s:.3f}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CorpusItem:
        try:
            return cls(
                path=Path(d["path"]),
                corpus=str(d["corpus"]),
                language=str(d["language"]),
                speaker=str(d["speaker"]),
                gender=d.get("gender"),
                label_original=str(d["label_original"]),
                label=d.get("label"),
                start_s=float(d.get("start_s", 0.0)),
                duration_s=None if d.get("duration_s") is None else float(d["duration_s"]),
                channel=int(d.get("channel", 0)),
                extra=dict(d.get("extra") or {}),
            )
        except KeyError as exc:
            raise InvalidInput(f"manifest item is missing field {exc.args[0]!r}") from exc


@dataclass(frozen=True)
class Unparsed:
    """A file found under a corpus root whose name or annotation the loader could not read."""

    path: str
    reason: str


@dataclass(frozen=True)
class Manifest:
    """An immutable list of items with load bookkeeping.

    ``unparsed``: files the loader could not interpret. ``dropped``: reason -> count of items left
    out on purpose (an option such as ``calm_as="drop"``, RAVDESS song files).
    ``classes``: the target class order once a ``LabelMap`` has been applied, else ``None``.
    """

    items: tuple[CorpusItem, ...] = ()
    unparsed: tuple[Unparsed, ...] = ()
    dropped: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "unparsed", tuple(self.unparsed))
        object.__setattr__(self, "dropped", dict(self.dropped))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[CorpusItem]:
        return iter(self.items)

    def __getitem__(self, index: int) -> CorpusItem:
        return self.items[index]

    def __add__(self, other: Manifest) -> Manifest:
        return Manifest.concat([self, other])

    @classmethod
    def concat(cls, manifests: Iterable[Manifest]) -> Manifest:
        manifests = list(manifests)
        dropped: Counter[str] = Counter()
        for m in manifests:
            dropped.update(m.dropped)
        class_sets = {m.classes for m in manifests if m.items}
        classes = class_sets.pop() if len(class_sets) == 1 else None
        return cls(
            items=tuple(i for m in manifests for i in m.items),
            unparsed=tuple(u for m in manifests for u in m.unparsed),
            dropped=dict(dropped),
            classes=classes,
        )

    def with_items(self, items: Iterable[CorpusItem]) -> Manifest:
        """Same bookkeeping, different items (used by filters and splits)."""
        return replace(self, items=tuple(items))

    def filter(
        self,
        *,
        corpus: str | Sequence[str] | None = None,
        language: str | Sequence[str] | None = None,
        speakers: Iterable[str] | None = None,
        labels: Iterable[str | None] | None = None,
        predicate: Callable[[CorpusItem], bool] | None = None,
    ) -> Manifest:
        """Items matching every given criterion; ``speakers`` are speaker keys (corpus/speaker)."""

        def as_set(v: str | Iterable[Any] | None) -> set[Any] | None:
            if v is None:
                return None
            return {v} if isinstance(v, str) else set(v)

        corpora, languages = as_set(corpus), as_set(language)
        spk, labs = as_set(speakers), as_set(labels)
        out = [
            i
            for i in self.items
            if (corpora is None or i.corpus in corpora)
            and (languages is None or i.language in languages)
            and (spk is None or i.speaker_key in spk)
            and (labs is None or i.label in labs)
            and (predicate is None or predicate(i))
        ]
        return self.with_items(out)

    def counts(self, by: str = "label") -> dict[str, int]:
        """Item counts by one field (``label``, ``corpus``, ``speaker`` (= speaker key), ...)."""
        if by == "speaker":
            keys = [i.speaker_key for i in self.items]
        elif by in ITEM_FIELDS:
            keys = [str(getattr(i, by)) for i in self.items]
        else:
            raise InvalidInput(f"cannot count by {by!r}; choose one of {('speaker',) + ITEM_FIELDS}")
        return dict(sorted(Counter(keys).items()))

    def count_table(self, rows: str = "corpus", cols: str = "label") -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for row in sorted(self.counts(rows)):
            sub = self.filter(predicate=lambda i, r=row: _field(i, rows) == r)
            out[row] = sub.counts(cols)
        return out

    @property
    def corpora(self) -> list[str]:
        return sorted({i.corpus for i in self.items})

    @property
    def languages(self) -> list[str]:
        return sorted({i.language for i in self.items})

    @property
    def speaker_keys(self) -> set[str]:
        return {i.speaker_key for i in self.items}

    @property
    def labels(self) -> list[str]:
        return sorted({i.label for i in self.items if i.label is not None})

    def summary(self) -> dict[str, Any]:
        """Counts worth printing or writing into a report (includes what was not loaded)."""
        return {
            "items": len(self.items),
            "speakers": len(self.speaker_keys),
            "per_corpus": self.counts("corpus"),
            "per_label": self.counts("label"),
            "unparsed": len(self.unparsed),
            "unparsed_examples": [asdict(u) for u in self.unparsed[:10]],
            "dropped": dict(self.dropped),
        }

    def save_jsonl(self, path: str | Path) -> Path:
        """One item per line. Bookkeeping (unparsed, dropped) is for reports, not persisted here."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for item in self.items:
                fh.write(json.dumps(item.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        return path

    @classmethod
    def load_jsonl(cls, path: str | Path) -> Manifest:
        path = Path(path)
        if not path.is_file():
            raise NotFound(f"manifest file not found: {path}")
        items = []
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    items.append(CorpusItem.from_dict(json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise InvalidInput(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
        return cls(items=tuple(items))


def _field(item: CorpusItem, name: str) -> str:
    return item.speaker_key if name == "speaker" else str(getattr(item, name))
