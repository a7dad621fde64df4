"""Versioned artifact folders: ``<artifacts_dir>/<kind>/<name>/<version>/``.

BOVW vocabularies (``vocabularies``) and speaker PCA projections (``speaker_pca``) are fitted by
jobs and loaded by the services; both sides go through ``ArtifactStore`` so they agree on the
layout. Versions are "1", "2", ... in publishing order; ``latest`` (also ``default`` or empty)
resolves to the highest. A version is written into a hidden staging folder and renamed into
place, so a reader never sees a half-written artifact, and two concurrent publishers of the
same name get different versions. A vocabulary's provenance also records the full log-mel and
image configs (its card only has their hashes), so a service can compute features exactly as the
vocabulary saw them without being told the config.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.features.bovw import BovwVocabulary
from shared.features.config import LogMelConfig
from shared.features.image import ImageConfig
from shared.speaker.pca import SpeakerPca

VOCABULARIES = "vocabularies"
SPEAKER_PCA = "speaker_pca"
KINDS = (VOCABULARIES, SPEAKER_PCA)
LATEST_ALIASES = ("", "latest", "default")
PROVENANCE_FILE = "provenance.json"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(name: str) -> str:
    """Artifact names are single path components: letters, digits, ``.``, ``_``, ``-``."""
    if not _NAME.match(name) or name in (".", ".."):
        raise InvalidInput(f"artifact name {name!r} must match {_NAME.pattern}")
    return name


class ArtifactStore:
    """The versions of one kind of artifact under ``root/<kind>``."""

    def __init__(self, root: Path | str, kind: str) -> None:
        if kind not in KINDS:
            raise InvalidInput(f"unknown artifact kind {kind!r}; known: {list(KINDS)}")
        self.kind = kind
        self.base = Path(root) / kind

    def names(self) -> list[str]:
        if not self.base.is_dir():
            return []
        return sorted(p.name for p in self.base.iterdir() if p.is_dir() and _NAME.match(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self.base / check_name(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def resolve(self, name: str, version: str = "") -> tuple[str, Path]:
        """(explicit version, folder) of ``name`` at ``version`` (a number or an alias for the latest)."""
        versions = self.versions(name)
        label = f"{self.kind} {name!r}"
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise NotFound(f"no {label} under {self.base} (known: {known})")
        if version in LATEST_ALIASES:
            chosen = versions[-1]
        elif version.isdigit() and int(version) in versions:
            chosen = int(version)
        else:
            raise NotFound(f"{label} has no version {version!r}; versions: {versions} or 'latest'")
        return str(chosen), self.base / name / str(chosen)

    def publish(self, name: str, write: Callable[[Path], object], provenance: dict[str, Any] | None = None) -> tuple[str, Path]:
        """Call ``write(staging_dir)``, add ``provenance.json`` and move the folder in as the next version."""
        folder = self.base / check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
        staging.chmod(0o755)  # mkdtemp makes it private; services may run as another user
        try:
            write(staging)
            # always written: a non-empty folder is what makes a rename onto a taken version fail
            text = json.dumps(provenance or {}, indent=2, sort_keys=True, default=str)
            (staging / PROVENANCE_FILE).write_text(text, encoding="utf-8")
            number = (self.versions(name) or [0])[-1] + 1
            while True:
                target = folder / str(number)
                try:
                    os.rename(staging, target)  # fails when a concurrent publisher took this number
                    return str(number), target
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
                    number += 1
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def read_provenance(folder: Path | str) -> dict[str, Any]:
    """The ``provenance.json`` a fit job wrote beside the artifact ({} when there is none)."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class VocabularyArtifact:
    """A published BOVW vocabulary with the log-mel and image configs it was fitted with."""

    name: str
    version: str
    folder: Path
    vocabulary: BovwVocabulary
    logmel: LogMelConfig | None  # None only for a vocabulary published without provenance
    image: ImageConfig


def publish_vocabulary(root: Path | str, name: str, vocabulary: BovwVocabulary, logmel: LogMelConfig,
                       image: ImageConfig, provenance: dict[str, Any] | None = None) -> tuple[str, Path]:
    """Publish the next version of vocabulary ``name``; the configs go into its provenance."""
    if vocabulary.card.feature_config_hash != logmel.hash() or vocabulary.card.image_config_hash != image.hash():
        raise ConfigMismatch("the vocabulary card's config hashes differ from the configs being recorded")
    record = {**(provenance or {}), "logmel": logmel.to_dict(), "image": image.to_dict()}
    return ArtifactStore(root, VOCABULARIES).publish(name, vocabulary.save, record)


def load_vocabulary(root: Path | str, name: str, version: str = "") -> VocabularyArtifact:
    """Resolve and load a vocabulary; NotFound when unknown, ConfigMismatch when card and provenance disagree."""
    resolved, folder = ArtifactStore(root, VOCABULARIES).resolve(name, version)
    provenance = read_provenance(folder)
    logmel = LogMelConfig.from_dict(provenance["logmel"]) if "logmel" in provenance else None
    image = ImageConfig.from_dict(provenance["image"]) if "image" in provenance else ImageConfig(channels=1)
    vocabulary = BovwVocabulary.load(
        folder, expect_feature_config_hash=logmel.hash() if logmel else None, expect_image_config_hash=image.hash()
    )
    return VocabularyArtifact(name, resolved, folder, vocabulary, logmel, image)


def publish_speaker_pca(root: Path | str, name: str, pca: SpeakerPca,
                        provenance: dict[str, Any] | None = None) -> tuple[str, Path]:
    return ArtifactStore(root, SPEAKER_PCA).publish(name, pca.save, provenance or {})


def load_speaker_pca(root: Path | str, name: str, version: str = "") -> tuple[str, SpeakerPca]:
    """(resolved version, projection); NotFound when unknown."""
    resolved, folder = ArtifactStore(root, SPEAKER_PCA).resolve(name, version)
    return resolved, SpeakerPca.load(folder)
