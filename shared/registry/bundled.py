"""The models that ship inside the repository (``shared/assets/registry``), copied into a live registry.

The default model is committed so ``make demo`` analyses emotions on a fresh clone with nothing
trained; a live registry (``$SER_ARTIFACTS_DIR/registry``) gets the bundled versions it lacks, and
a user's own versions or alias moves are never overwritten.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from shared.registry.card import ModelCard
from shared.registry.store import ALIASES, CARD, ModelRegistry

BUNDLED_ROOT = Path(__file__).resolve().parents[1] / "assets" / "registry"


def seed_registry(root: Path, bundled: Path = BUNDLED_ROOT) -> list[str]:
    """Copy bundled ``name/version`` folders missing from ``root``; returns what was copied."""
    copied: list[str] = []
    if not bundled.is_dir():
        return copied
    for model_dir in sorted(p for p in bundled.iterdir() if p.is_dir()):
        target_dir = Path(root) / model_dir.name
        for version_dir in sorted(p for p in model_dir.iterdir() if (p / CARD).is_file()):
            target = target_dir / version_dir.name
            if not target.exists():
                target_dir.mkdir(parents=True, exist_ok=True)
                staging = target_dir / f".seed-{version_dir.name}"
                shutil.rmtree(staging, ignore_errors=True)
                shutil.copytree(version_dir, staging)
                staging.rename(target)
                copied.append(f"{model_dir.name}:{version_dir.name}")
        if (model_dir / ALIASES).is_file() and not (target_dir / ALIASES).exists():
            shutil.copy2(model_dir / ALIASES, target_dir / ALIASES)
    return copied


def bundle(registry: ModelRegistry, name: str, version_or_alias: str, bundled: Path = BUNDLED_ROOT,
           as_name: str | None = None) -> Path:
    """Copy one registry version into the repository's bundled registry and make it its default."""
    version, path = registry.resolve(name, version_or_alias)
    target_dir = bundled / (as_name or name)
    target = target_dir / version
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(path, target)
    card = ModelCard.from_json((target / CARD).read_text(encoding="utf-8"))
    (target / CARD).write_text(card.replace(name=as_name or name).to_json(), encoding="utf-8")
    (target_dir / ALIASES).write_text(f'{{"default": "{version}"}}\n')
    return target
