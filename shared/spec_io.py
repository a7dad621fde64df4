"""Reading and validating declarative specs (YAML/JSON files, text or dicts) with errors that name the field."""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from shared.errors import SpecError

M = TypeVar("M", bound=BaseModel)
MAX_SPEC_NODES = 1_000_000


def read_mapping(source: str | Path | dict[str, Any], what: str) -> dict[str, Any]:
    """A dict from a dict, a spec file path (.yaml/.yml/.json) or YAML/JSON text."""
    if isinstance(source, dict):
        return source
    text = source
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and source.strip().endswith((".yaml", ".yml", ".json"))):
        path = Path(source)
        try:
            if not path.is_file():
                raise SpecError(f"{what} spec file not found: {path}")
            text = path.read_text()
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, not text (found by fuzzing)
            raise SpecError(f"cannot read the {what} spec file {str(path)[:200]!r}: {exc}") from exc
    try:
        data = yaml.safe_load(str(text))
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} spec is not valid YAML/JSON: {exc}") from exc
    except RecursionError:
        raise SpecError(f"{what} spec is nested too deeply") from None
    if not isinstance(data, dict):
        raise SpecError(f"a {what} spec must be a mapping, got {type(data).__name__}")
    _check_expanded_size(data, what)
    return data


def _check_expanded_size(data: Any, what: str) -> None:
    """YAML aliases let a few hundred bytes expand into a tree of billions of nodes (or a cycle) that
    validation and JSON encoding would then walk: refuse a spec over ``MAX_SPEC_NODES`` nodes."""
    count, stack = 0, [data]
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_SPEC_NODES:
            raise SpecError(f"{what} spec expands to over {MAX_SPEC_NODES} values (YAML aliases?); refusing it")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def validate_model(cls: type[M], data: dict[str, Any], what: str) -> M:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<spec>'}: {e['msg']}" for e in exc.errors())
        raise SpecError(f"invalid {what} spec: {problems}") from exc
