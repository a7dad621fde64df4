"""The one rule for every path a job or request names (``PathPolicy``), built from the settings.

- Reads (batch inputs, manifests, the paths listed inside manifests, corpus roots and the files a
  corpus lists, spec files) must resolve, symlinks followed and ``..`` collapsed, under a data root
  (SER_DATA_ROOTS). With no data root configured, reads are not restricted.
- Writes (a job's ``output_dir``) must resolve under SER_ARTIFACTS_DIR or an output root
  (SER_OUTPUT_ROOTS), always.
- Whatever the roots, a job never reads this process's TLS private key or anything under /proc (a
  manifest of /proc/self/environ would list the environment, secrets included).
- ``${NAME}`` in a corpus root expands only for ``SER_CORPORA``, ``HOME`` and ``SER_DATA_ROOTS`` (when it
  names one folder). Any other name is refused by its name, never its value, so a spec cannot read a
  secret (a token, the Redis URL) out of the worker's environment into an error or a report.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import InvalidInput, SpecError

if TYPE_CHECKING:
    from shared.settings import Settings

EXPANDABLE = ("SER_CORPORA", "HOME", "SER_DATA_ROOTS")
ALWAYS_PRIVATE = (Path("/proc"),)
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_MAX_SHOWN = 200


def resolve(path: str | Path) -> Path:
    """``path`` made absolute with symlinks and ``..`` resolved; InvalidInput when that is impossible."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, unknown ~user, symlink loop (found by fuzzing)
        raise InvalidInput(f"path {str(path)[:_MAX_SHOWN]!r} cannot be resolved: {exc}") from exc


def _under(resolved: Path, roots: tuple[Path, ...]) -> bool:
    return any(resolved.is_relative_to(resolve(root)) for root in roots)


def confine(path: str | Path, roots: tuple[Path, ...]) -> Path:
    """The resolved path; with roots configured, InvalidInput for anything that resolves outside them."""
    resolved = resolve(path)
    if roots and not _under(resolved, roots):
        raise InvalidInput(f"path {str(path)[:_MAX_SHOWN]} is outside the configured data roots "
                           f"({', '.join(map(str, roots))})")
    return resolved


@dataclass(frozen=True)
class PathPolicy:
    """Where jobs and requests may read and write; ``PathPolicy.from_settings`` is the deployed one."""

    data_roots: tuple[Path, ...] = ()
    output_roots: tuple[Path, ...] = (Path("artifacts"),)
    private: tuple[Path, ...] = ALWAYS_PRIVATE
    variables: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, home: Path | None = None) -> PathPolicy:
        variables = {"SER_CORPORA": str(settings.corpora_root), "HOME": str(home or Path.home())}
        if len(settings.data_roots) == 1:
            variables["SER_DATA_ROOTS"] = str(settings.data_roots[0])
        private = (*ALWAYS_PRIVATE, *([settings.tls_key] if settings.tls_key else []))
        return cls(data_roots=settings.data_roots, output_roots=(settings.artifacts_dir, *settings.output_roots),
                   private=private, variables=variables)

    def expand(self, text: str) -> str:
        """``${NAME}`` replaced for the allow-listed names; SpecError naming (never showing) any other."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in self.variables:
                return self.variables[name]
            if name == "SER_DATA_ROOTS":
                raise SpecError("${SER_DATA_ROOTS} expands only when SER_DATA_ROOTS names exactly one folder")
            allowed = ", ".join(f"${{{n}}}" for n in EXPANDABLE)
            raise SpecError(f"${{{name[:64]}}} is not expanded in paths; only {allowed} are")

        return _VARIABLE.sub(value, text)

    def read(self, path: str | Path) -> Path:
        """A path a job may read (resolved), or InvalidInput."""
        resolved = confine(path, self.data_roots)
        if _under(resolved, self.private):
            raise InvalidInput(f"path {str(path)[:_MAX_SHOWN]} is private to the service; jobs cannot read it")
        return resolved

    def corpus_root(self, root: str) -> Path:
        """A corpus root with its allow-listed variables expanded, resolved and confined like any read."""
        return self.read(self.expand(root))

    def write(self, path: str | Path) -> Path:
        """A folder a job may write results into (resolved), or InvalidInput."""
        resolved = resolve(path)
        if not _under(resolved, self.output_roots):
            raise InvalidInput(f"output folder {str(path)[:_MAX_SHOWN]} is outside SER_ARTIFACTS_DIR and "
                               f"SER_OUTPUT_ROOTS ({', '.join(map(str, self.output_roots))})")
        return resolved
