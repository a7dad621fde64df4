"""The one rule for every path a job or request names (``PathPolicy``), built from the settings.

- Reads (batch inputs, manifests, the paths listed inside manifests, corpus roots and the files a
  corpus lists, spec files) must resolve, symlinks followed and ``..`` collapsed, under a data root
  (SER_DATA_ROOTS). With no data root configured, reads are not restricted.
- Writes (a job's ``output_dir``) must resolve under SER_ARTIFACTS_DIR or an output root
  (SER_OUTPUT_ROOTS), always, and never inside what the services own there (``reserved``: the model
  registry, ``run/``, the feature cache, the HTTP call store). Inside its output folder a job writes
  through no symbolic link (``no_symlink_below``; files are opened with ``O_NOFOLLOW``).
- Whatever the roots, a job never reads this process's TLS private key or anything under /proc (a
  manifest of /proc/self/environ would list the environment, secrets included).
- ``${NAME}`` in a corpus root expands only for ``SER_CORPORA``, ``HOME`` and ``SER_DATA_ROOTS`` (when it
  names one folder). Any other name is refused by its name, never its value, so a spec cannot read a
  secret (a token, the Redis URL) out of the worker's environment into an error or a report.
"""
from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import InvalidInput, SpecError

if TYPE_CHECKING:
    from shared.settings import Settings

EXPANDABLE = ("SER_CORPORA", "HOME", "SER_DATA_ROOTS")
ALWAYS_PRIVATE = (Path("/proc"),)
RESERVED_ARTIFACTS = ("registry", "run", "cache")  # under SER_ARTIFACTS_DIR: the services' own state
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_MAX_SHOWN = 200


def resolve(path: str | Path) -> Path:
    """``path`` made absolute with symlinks and ``..`` resolved; InvalidInput when that is impossible."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, unknown ~user, symlink loop (found by fuzzing)
        raise InvalidInput(f"path {str(path)[:_MAX_SHOWN]!r} cannot be resolved: {exc}") from exc


def is_path_type(annotation: Any) -> bool:
    """True when ``annotation`` admits ``pathlib.Path`` (``Path``, ``str | Path | None``...): a parameter so
    typed names a file, whatever it is called, so options of that type are confined like any other path."""
    if isinstance(annotation, type):
        return issubclass(annotation, Path)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        return any(is_path_type(arg) for arg in typing.get_args(annotation))
    return False


def path_parameters(function: Callable[..., Any], *, skip: int = 1) -> tuple[str, ...]:
    """The keyword parameters of ``function`` or a class's constructor (after the first ``skip``) typed as
    paths (``is_path_type``)."""
    hints = typing.get_type_hints(function.__init__ if isinstance(function, type) else function)
    params = list(inspect.signature(function).parameters)[skip:]
    return tuple(name for name in params if is_path_type(hints.get(name)))


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
    reserved: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, *, home: Path | None = None) -> PathPolicy:
        variables = {"SER_CORPORA": str(settings.corpora_root), "HOME": str(home or Path.home())}
        if len(settings.data_roots) == 1:
            variables["SER_DATA_ROOTS"] = str(settings.data_roots[0])
        private = (*ALWAYS_PRIVATE, *([settings.tls_key] if settings.tls_key else []))
        reserved = (*(settings.artifacts_dir / name for name in RESERVED_ARTIFACTS), settings.http_calls_dir)
        return cls(data_roots=settings.data_roots, output_roots=(settings.artifacts_dir, *settings.output_roots),
                   private=private, variables=variables, reserved=reserved)

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

    def read_options(self, options: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
        """``options`` with each of ``names`` that is set expanded and confined as a read (``corpus_root``)."""
        return {k: (str(self.corpus_root(str(v))) if k in names and v is not None else v) for k, v in options.items()}

    def write(self, path: str | Path) -> Path:
        """A folder a job may write results into (resolved), or InvalidInput."""
        resolved = resolve(path)
        if not _under(resolved, self.output_roots):
            raise InvalidInput(f"output folder {str(path)[:_MAX_SHOWN]} is outside SER_ARTIFACTS_DIR and "
                               f"SER_OUTPUT_ROOTS ({', '.join(map(str, self.output_roots))})")
        if _under(resolved, self.reserved):
            raise InvalidInput(f"output folder {str(path)[:_MAX_SHOWN]} is inside a folder the services own "
                               f"({', '.join(map(str, self.reserved))}); choose another")
        return resolved


def no_symlink_below(root: Path, path: Path) -> Path:
    """``path`` when neither it nor any folder between ``root`` and it is a symbolic link (``lstat``), else
    InvalidInput naming the link: a link placed in an output folder cannot redirect a job's write."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise InvalidInput(f"{path} is not inside the output folder {root}") from None
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise InvalidInput(f"{current} is a symbolic link; job outputs are never written through links")
    return path
