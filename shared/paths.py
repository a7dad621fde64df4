"""Confine user-supplied paths to configured data roots (``..`` and symlink escapes refused)."""
from __future__ import annotations

from pathlib import Path

from shared.errors import InvalidInput


def confine(path: Path, roots: tuple[Path, ...]) -> Path:
    """Return the resolved path; with roots configured, refuse anything that resolves outside them."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, unknown ~user, symlink loop (found by fuzzing)
        raise InvalidInput(f"path {str(path)[:200]!r} cannot be resolved: {exc}") from exc
    if not roots:
        return resolved
    for root in roots:
        if resolved.is_relative_to(Path(root).expanduser().resolve()):
            return resolved
    raise InvalidInput(f"path {path} is outside the configured data roots ({', '.join(map(str, roots))})")
