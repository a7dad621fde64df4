"""Declarative experiment recipes (YAML), one folder per paper; see README.md beside this file."""
from __future__ import annotations

from pathlib import Path


def recipes_dir() -> Path:
    return Path(__file__).resolve().parent


def list_recipes() -> list[Path]:
    return sorted(recipes_dir().glob("*/*.yaml"))
