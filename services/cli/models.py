"""``ser models ...``: architectures and the model registry."""
from __future__ import annotations

import argparse
from pathlib import Path

from shared.errors import SpecError
from shared.registry.card import ModelCard
from shared.registry.store import ModelEntry
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
            return 0
        print(format_models(entries))
    elif args.models_command == "show":
        print(registry.card(*split_ref(args.ref)).to_json())
    elif args.models_command == "promote":
        name, version = split_ref(args.ref, "")
        if not version:
            raise SpecError("promote needs NAME:VERSION")
        print(registry.promote(name, version, args.alias))
    elif args.models_command == "bundle":
        from shared.registry.bundled import bundle

        name, version = split_ref(args.ref)
        print(f"bundled {name}:{version} as {args.as_name}: {bundle(registry, name, version, as_name=args.as_name)}")
    elif args.models_command == "export":
        from shared.registry.onnx_export import export_onnx

        name, version = split_ref(args.ref)
        model, card = registry.load(name, version)
        report = export_onnx(model, card, Path(args.onnx), opset=args.opset, tolerance=args.tolerance)
        print(f"wrote {args.onnx} ({report.model}, opset {report.opset}, inputs "
              + ", ".join(f"{k} {v}" for k, v in report.inputs.items()) + ")")
        verdict = "PASSED" if report.validated else "NOT VALIDATED"
        print(f"{report.validation}; tolerance {report.tolerance:g}: {verdict} "
              f"(details in {Path(args.onnx).with_suffix('.json')})")
    return 0


def metric_of(card: ModelCard, key: str = "uar") -> str:
    """The card's headline metric (pooled over the test folds, or top level), formatted, or '-'. A final fit's
    metrics are on its training data, so they are marked "(fit)" rather than passed off as a test score."""
    metrics = card.metrics or {}
    if card.protocol == "final_fit":
        value = metrics.get("pooled", {}).get(key)
        return f"{value:.3f} (fit)" if isinstance(value, (int, float)) else "-"
    for scope in (metrics.get("pooled", {}), metrics):
        value = scope.get(key) if isinstance(scope, dict) else None
        if isinstance(value, (int, float)):
            return f"{value:.3f}"
    return "-"


def format_models(entries: list[ModelEntry]) -> str:
    from services.cli.analyze import text_table

    rows = [(e.name, e.version, ",".join(e.aliases) or "-", e.card.architecture, metric_of(e.card),
             e.card.created_at.replace("T", " ")[:16]) for e in entries]
    return text_table(("name", "version", "aliases", "architecture", "UAR", "created"), rows)
