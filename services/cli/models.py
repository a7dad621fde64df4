"""``ser models ...``: architectures and the model registry."""
from __future__ import annotations

import argparse
import json

from shared.errors import SpecError
from shared.settings import Settings


def split_ref(ref: str, default_version: str = "default") -> tuple[str, str]:
    name, _, version = ref.partition(":")
    if not name:
        raise SpecError(f"model reference {ref!r} needs a name (NAME[:VERSION])")
    return name, version or default_version


def run_models(args: argparse.Namespace, settings: Settings) -> int:
    if args.models_command == "architectures":
        from services.cli.experiments import list_architectures

        return list_architectures()
    from shared.registry.store import ModelRegistry

    registry = ModelRegistry(settings.artifacts_dir / "registry")
    if args.models_command == "list":
        entries = registry.list()
        if not entries:
            print(f"no models registered under {registry.root}")
        for e in entries:
            print(json.dumps(e.__dict__ if hasattr(e, "__dict__") else e, default=str))
    elif args.models_command == "show":
        print(registry.card(*split_ref(args.ref)).to_json())
    elif args.models_command == "promote":
        name, version = split_ref(args.ref, "")
        if not version:
            raise SpecError("promote needs NAME:VERSION")
        print(registry.promote(name, version, args.alias))
    return 0
