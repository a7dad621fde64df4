"""Loader registry: ``load_corpus(name, root, **options) -> Manifest``.

Names are the corpus ids the items carry (``crema-d``, ``turevdb``) plus lenient aliases
(``cremad``, ``turev-db``).
Unknown names and unknown options are spec errors, named in the message. An option typed as a path in
its loader's signature (``demographics: str | Path | None``) is a path (``path_options``): a job spec
confines it like a corpus root (``shared.experiments.spec.CorpusRef.confined``).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shared.corpora import (
    cremad,
    csv_manifest,
    demos,
    emodb,
    emovo,
    esd,
    iemocap,
    ravdess,
    savee,
    tess,
    turevdb,
    urdu,
)
from shared.corpora.items import Manifest
from shared.errors import InvalidInput, SpecError
from shared.paths import path_parameters

Loader = Callable[..., Manifest]

LOADERS: Mapping[str, Loader] = MappingProxyType(
    {
        m.CORPUS: m.load
        for m in (emodb, ravdess, tess, savee, cremad, emovo, iemocap, demos, esd, urdu, turevdb, csv_manifest)
    }
)
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "emo-db": "emodb",
        "berlin": "emodb",
        "cremad": "crema-d",
        "crema_d": "crema-d",
        "turev-db": "turevdb",
        "turev_db": "turevdb",
        "manifest": "csv",
    }
)


def available_corpora() -> list[str]:
    return sorted(LOADERS)


def loader_options(name: str) -> dict[str, Any]:
    """Option name -> default for one loader (what a spec may set)."""
    params = list(inspect.signature(_loader(name)).parameters.values())[1:]
    return {p.name: p.default for p in params}


def path_options(name: str) -> tuple[str, ...]:
    """The options of one loader that name files (typed as paths), which a job must confine before loading."""
    return path_parameters(_loader(name))


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """SpecError naming an unknown corpus or option, so a spec fails when it is submitted, not mid-job."""
    allowed = loader_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SpecError(f"corpus {name!r} has no option(s) {unknown}; options: {sorted(allowed)}")


def _loader(name: str) -> Loader:
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return LOADERS[key]
    except KeyError as exc:
        raise SpecError(f"unknown corpus {name!r}; known: {available_corpora()}") from exc


def load_corpus(name: str, root: str | Path, *, strict: bool = False, **options: Any) -> Manifest:
    """Load one corpus. ``strict=True`` turns any unparseable file into an error."""
    check_options(name, options)
    manifest = _loader(name)(root, **options)
    if strict and manifest.unparsed:
        first = manifest.unparsed[0]
        raise InvalidInput(
            f"{name}: {len(manifest.unparsed)} unparseable file(s), first {first.path}: {first.reason}"
        )
    return manifest


def load_corpora(specs: Iterable[Mapping[str, Any]]) -> Manifest:
    """Concatenate several corpora, each spec a mapping with ``name``, ``root`` and options."""
    manifests = []
    for spec in specs:
        spec = dict(spec)
        try:
            name, root = spec.pop("name"), spec.pop("root")
        except KeyError as exc:
            raise SpecError(f"corpus spec {spec!r} needs {exc.args[0]!r}") from exc
        manifests.append(load_corpus(name, root, **spec))
    return Manifest.concat(manifests)
