"""``ser models ...``: architectures and the model registry."""
from __future__ import annotations

import argparse
from pathlib import Path

from shared.errors import SpecError
from shared.registry.card import ModelCard
from shared.registry.store import ModelEntry, ModelRegistry
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
        export_model(registry, args)
    return 0


def export_model(registry: ModelRegistry, args: argparse.Namespace) -> None:
    """``--onnx PATH``: a validated file (``--int8``: also PATH.int8.onnx); ``--publish``: a registry version."""
    from shared.registry.onnx_export import export_onnx
    from shared.registry.onnx_publish import posterior_gap, publish_onnx
    from shared.registry.onnx_runtime import quantize_int8

    name, version = split_ref(args.ref)
    if args.publish:
        ref, export = publish_onnx(registry, name, version, int8=args.int8, as_name=args.as_name, alias=args.alias,
                                   tolerance=args.tolerance)
        serving = export.serving
        print(f"published {ref} serving {serving['exported_from']} with onnxruntime (quantization "
              f"{serving['quantization']}; max |posterior diff| vs torch {serving['max_abs_diff_probs']:.2e})"
              + (f", alias {args.alias}" if args.alias else ""))
        return
    if args.as_name or args.alias:
        raise SpecError("--as and --alias go with --publish")
    model, card = registry.load(name, version)
    target = Path(args.onnx)
    report = export_onnx(model, card, target, opset=args.opset, tolerance=args.tolerance)
    print(f"wrote {target} ({report.model}, opset {report.opset}, inputs "
          + ", ".join(f"{k} {v}" for k, v in report.inputs.items()) + ")")
    verdict = "PASSED" if report.validated else "NOT VALIDATED"
    print(f"fp32 {report.validation}; tolerance {report.tolerance:g}: {verdict}")
    if args.int8:
        quantised = quantize_int8(target, target.with_suffix(".int8.onnx"))
        print(f"wrote {quantised} (dynamic int8): max |posterior diff| vs torch "
              f"{posterior_gap(model, card, quantised):.2e}")


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
