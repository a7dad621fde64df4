"""A file-system model registry: immutable versions, movable aliases, a cheap change fingerprint.

Layout::

    root/<name>/<version>/model.safetensors   weights (never pickle)
    root/<name>/<version>/card.json           the ModelCard
    root/<name>/<version>/artifacts/<key>...  side artifacts copied in at publish (PCA, BOVW)
    root/<name>/aliases.json                  {"default": "3", "staging": "4"}

A version is assembled in a hidden temp directory and renamed into place, so readers see it
whole or not at all; aliases.json is replaced atomically, under a per-name lock so concurrent
promotes do not lose each other's updates. A server polls ``fingerprint()`` and reloads when it
changes; since published versions never change, it only depends on version names and aliases.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from shared.errors import NotFound, SpecError
from shared.features.atomic import atomic_write
from shared.registry.card import ArtifactRef, ModelCard
from shared.training.checkpoint import save_weights, weights_of

WEIGHTS = "model.safetensors"
CARD = "card.json"
ALIASES = "aliases.json"
ARTIFACTS = "artifacts"
DEFAULT_ALIAS = "default"
# Build overrides that point at local pretrained weights: the registry's own weights replace them.
PRETRAINED_KEYS = ("weights_path", "pretrained_path")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    path: Path  # the version directory

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: str
    aliases: tuple[str, ...]
    path: Path
    card: ModelCard


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise SpecError(f"{kind} {value!r} must be 1-128 letters, digits, '.', '_' or '-', starting alphanumeric")
    return value


class ModelRegistry:
    """Versioned models under ``root``; see the module docstring."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ writing
    def publish(
        self,
        model: nn.Module,
        card: ModelCard,
        *,
        name: str,
        version: str | None = None,
        artifacts: Mapping[str, Path] | None = None,
        alias: str | None = None,
    ) -> ModelRef:
        """Store ``model``'s weights and ``card`` as a new version (``version`` None: the next
        integer). ``artifacts`` (key -> file or directory) are copied in and referenced from
        the card. ``alias`` also promotes the new version to it."""
        _check_name("model name", name)
        if version is not None:
            _check_name("version", version)
            if version.isdigit() and version != str(int(version)):
                raise SpecError(f"numeric version {version!r} must not have leading zeros")
        model_dir = self.root / name
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=".publish-"))
        try:
            refs: dict[str, ArtifactRef] = dict(card.side_artifacts)
            for key, source in (artifacts or {}).items():
                _check_name("artifact key", key)
                source = Path(source)
                if not source.exists():
                    raise NotFound(f"artifact {key!r} not found at {source}")
                target = staging / ARTIFACTS / (key + "".join(source.suffixes) if source.is_file() else key)
                target.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copy2 if source.is_file() else shutil.copytree)(source, target)
                refs[key] = ArtifactRef(target.relative_to(staging).as_posix(), ArtifactRef.digest(target))
            save_weights(weights_of(model), staging / WEIGHTS, {"architecture": card.architecture})
            with self._lock(name):
                chosen = version or self._next_version(name)
                final = card.replace(name=name, version=chosen, side_artifacts=refs)
                (staging / CARD).write_text(final.to_json(), encoding="utf-8")
                target_dir = model_dir / chosen
                if target_dir.exists():
                    raise SpecError(f"{name}:{chosen} already exists; versions are immutable")
                if chosen in self._read_aliases(name):
                    raise SpecError(f"{chosen!r} is already an alias of {name}")
                os.rename(staging, target_dir)
                if alias is not None:
                    self._set_alias(name, alias, chosen)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return ModelRef(name, chosen, target_dir)

    def promote(self, name: str, version: str, alias: str = DEFAULT_ALIAS) -> ModelRef:
        """Point ``alias`` at ``version`` (itself a version or an alias), atomically."""
        with self._lock(name):
            resolved, path = self.resolve(name, version)
            self._set_alias(name, alias, resolved)
        return ModelRef(name, resolved, path)

    def remove_alias(self, name: str, alias: str) -> None:
        with self._lock(name):
            aliases = self._read_aliases(name)
            if alias not in aliases:
                raise NotFound(f"model {name!r} has no alias {alias!r}; aliases: {sorted(aliases)}")
            del aliases[alias]
            self._write_aliases(name, aliases)

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, numeric ones in numeric order, then the rest."""
        model_dir = self.root / name
        if not model_dir.is_dir():
            raise NotFound(f"no model named {name!r} in {self.root}; models: {self.names()}")
        found = [p.name for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                 and (p / CARD).is_file()]
        return sorted(found, key=lambda v: (0, int(v), "") if v.isdigit() else (1, 0, v))

    def aliases(self, name: str) -> dict[str, str]:
        self.versions(name)  # NotFound for unknown names
        return self._read_aliases(name)

    def resolve(self, name: str, version_or_alias: str = DEFAULT_ALIAS) -> tuple[str, Path]:
        """(version, version directory) for a version or an alias of ``name``."""
        versions = self.versions(name)
        if version_or_alias in versions:
            return version_or_alias, self.root / name / version_or_alias
        aliases = self._read_aliases(name)
        if version_or_alias in aliases:
            target = aliases[version_or_alias]
            if target not in versions:
                raise NotFound(f"alias {name}:{version_or_alias} points at missing version {target!r}")
            return target, self.root / name / target
        raise NotFound(
            f"model {name!r} has no version or alias {version_or_alias!r}; "
            f"versions: {versions}; aliases: {sorted(aliases)}"
        )

    def card(self, name: str, version_or_alias: str = DEFAULT_ALIAS) -> ModelCard:
        _, path = self.resolve(name, version_or_alias)
        return ModelCard.from_json((path / CARD).read_text(encoding="utf-8"))

    def list(self) -> list[ModelEntry]:
        entries: list[ModelEntry] = []
        for name in self.names():
            try:
                versions = self.versions(name)
            except NotFound:  # removed while listing
                continue
            by_version: dict[str, list[str]] = {}
            for alias, target in self._read_aliases(name).items():
                by_version.setdefault(target, []).append(alias)
            for version in versions:
                path = self.root / name / version
                card = ModelCard.from_json((path / CARD).read_text(encoding="utf-8"))
                entries.append(ModelEntry(name, version, tuple(sorted(by_version.get(version, []))), path, card))
        return entries

    def load(self, name: str, version_or_alias: str = DEFAULT_ALIAS) -> tuple[nn.Module, ModelCard]:
        """Rebuild the architecture from the card and load the weights (safetensors only), in
        eval mode on CPU."""
        from shared.models.registry import build_model

        _, path = self.resolve(name, version_or_alias)
        card = ModelCard.from_json((path / CARD).read_text(encoding="utf-8"))
        overrides = {k: v for k, v in card.model_config.items() if k not in PRETRAINED_KEYS}
        model = build_model(card.architecture, card.num_classes, **overrides)
        weights = load_file(str(path / WEIGHTS), device="cpu")
        try:
            model.load_state_dict(weights)
        except RuntimeError as exc:
            raise SpecError(f"weights of {name}:{card.version} do not fit {card.architecture}: {exc}") from exc
        model.eval()
        return model, card

    def artifact_path(self, name: str, version_or_alias: str, key: str) -> Path:
        """Where a side artifact of a version lives (NotFound if the card has none by that key)."""
        card = self.card(name, version_or_alias)
        if key not in card.side_artifacts:
            raise NotFound(f"{name}:{card.version} has no artifact {key!r}; it has {sorted(card.side_artifacts)}")
        return self.root / name / card.version / card.side_artifacts[key].path

    def fingerprint(self) -> str:
        """Changes whenever a version is published or an alias moves; cheap enough to poll."""
        h = hashlib.sha256()
        for name in self.names():
            h.update(name.encode() + b"\0")
            model_dir = self.root / name
            for entry in sorted(os.listdir(model_dir)):
                if not entry.startswith(".") and entry != ALIASES:
                    h.update(entry.encode() + b"\1")
            with contextlib.suppress(FileNotFoundError):
                h.update((model_dir / ALIASES).read_bytes())
            h.update(b"\2")
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ internals
    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        lock_path = self.root / name / ".lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _next_version(self, name: str) -> str:
        model_dir = self.root / name
        numbers = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        return str(max(numbers, default=0) + 1)

    def _read_aliases(self, name: str) -> dict[str, str]:
        path = self.root / name / ALIASES
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise SpecError(f"{path} must map alias names to version strings")
        return data

    def _write_aliases(self, name: str, aliases: dict[str, str]) -> None:
        text = json.dumps(dict(sorted(aliases.items())), indent=2)
        atomic_write(self.root / name / ALIASES, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def _set_alias(self, name: str, alias: str, version: str) -> None:
        _check_name("alias", alias)
        if alias.isdigit() or alias in self.versions(name):
            raise SpecError(f"alias {alias!r} would shadow a version name of {name}")
        aliases = self._read_aliases(name)
        aliases[alias] = version
        self._write_aliases(name, aliases)

