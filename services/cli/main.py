"""``ser``: the one command line for the platform (stack, services, segmentation, jobs)."""
from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from shared.errors import SerError
from shared.settings import SERVICE_PORTS, Settings

SERVICE_MODULES = {**{name: f"services.{name}.server" for name in SERVICE_PORTS}, "http": "services.http.server"}
EXIT_RPC_FAILURE = 1

# what to do about each gRPC status a command may meet (the server's message says what went wrong)
RPC_FIXES: dict[str, str] = {
    "DEADLINE_EXCEEDED": "the call ran past its deadline; retry when the stack is less busy",
    "UNAUTHENTICATED": "set SER_GATEWAY_TOKEN to the gateway's token",
    "PERMISSION_DENIED": "set SER_GATEWAY_TOKEN (and SER_TLS_*) to credentials the gateway accepts",
    "INVALID_ARGUMENT": "fix the input (a readable WAV/FLAC/OGG/MP3 recording, or the options) and retry",
    "NOT_FOUND": "check the name (`ser models list` shows the models)",
    "RESOURCE_EXHAUSTED": ("the input is over a limit (SER_MAX_AUDIO_MB, SER_MAX_AUDIO_SECONDS, SER_MAX_MESSAGE_MB) "
                           "or the service is busy; shorten the input or retry later"),
    "FAILED_PRECONDITION": "the model does not accept this request; pick another model (`ser models list`)",
    "UNAVAILABLE": "retry, or restart the stack with 'ser up'",
}
# where a connection failure names its target: "ipv4:127.0.0.1:50050", "ipv6:%5B::1%5D:50050", "resolving host:port"
_TARGET = re.compile(r"ipv4:([\d.]+:\d+)|ipv6:(%5B\S*?%5D:\d+)|resolving (\S+?:\d+)")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.name not in SERVICE_MODULES:
        raise SystemExit(f"unknown service {args.name!r}; known: {', '.join(sorted(SERVICE_MODULES))}")
    try:
        module = importlib.import_module(SERVICE_MODULES[args.name])
    except ModuleNotFoundError as exc:
        raise SystemExit(f"service {args.name!r} is not implemented yet ({exc})") from exc
    module.main()
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.stack import up

    up(settings, worker=not args.no_worker)
    print("stack is up; `ser down` stops it")
    return 0


def cmd_down(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.stack import down

    down(settings)
    return 0


def cmd_redis(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.stack import ensure_redis

    started = ensure_redis(settings)
    from services.common.security import mask_url

    print(f"{'started' if started else 'reachable'}: {mask_url(settings.redis_url)}")
    return 0


def cmd_browser(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.debian import BROWSER, ensure_binaries

    for binary, path in ensure_binaries(BROWSER, "the web-view browser tests").items():
        print(f"{binary}: {path}")
    return 0


def cmd_segment(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.segment import run_segment

    return run_segment(args, settings)


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.jobs import run_jobs

    return run_jobs(args, settings)


def cmd_fit(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.fit import run_fit

    return run_fit(args, settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.demo import run_demo

    return run_demo(args, settings)


def cmd_experiment(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.experiments import run_experiment_command

    return run_experiment_command(args, settings)


def cmd_analyze(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.analyze import run_analyze

    return run_analyze(args, settings)


def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.batch import run_batch

    return run_batch(args, settings)


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.models import run_models

    return run_models(args, settings)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.report import run_report

    return run_report(args, settings)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ser", description="Cross-corpus speech emotion recognition platform")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run one service in the foreground (a gRPC service, or http: the HTTP API)")
    s.add_argument("name", help=", ".join(sorted(SERVICE_MODULES)))
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("up", help="start Redis (if missing), the services and a worker; wait for health")
    s.add_argument("--no-worker", action="store_true", help="do not start a Celery worker")
    s.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what `ser up` started").set_defaults(func=cmd_down)
    sub.add_parser("redis", help="make sure Redis answers at SER_REDIS_URL (install/start it if not)"
                   ).set_defaults(func=cmd_redis)
    sub.add_parser("browser", help="make sure headless Chromium and ChromeDriver are installed (browser tests)"
                   ).set_defaults(func=cmd_browser)

    s = sub.add_parser("segment", help="print per-channel speech segments of a recording")
    s.add_argument("file")
    s.add_argument("--mono", action="store_true", help="mix channels down instead of keeping them apart")
    s.add_argument("--normalize", choices=["none", "peak", "loudness"], default="none")
    s.add_argument("--remote", action="store_true", help="ask the preprocess service instead of running in-process")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_segment)

    s = sub.add_parser("jobs", help="submit, inspect, watch and cancel jobs")
    jsub = s.add_subparsers(dest="jobs_command", required=True)
    j = jsub.add_parser("submit", help="submit a job from a YAML/JSON spec file")
    j.add_argument("kind", help="job kind, e.g. segment_batch")
    j.add_argument("spec", help="spec file (YAML or JSON)")
    j.add_argument("--watch", action="store_true", help="watch with a progress bar until it ends")
    for name, helptext in (("get", "show a job"), ("watch", "follow a job's progress"), ("cancel", "cancel a job")):
        j = jsub.add_parser(name, help=helptext)
        j.add_argument("job_id")
    j = jsub.add_parser("list", help="recent jobs")
    j.add_argument("--limit", type=int, default=20)
    s.set_defaults(func=cmd_jobs)

    for name, helptext in (("train", "train and evaluate models from an experiment spec (a recipe)"),
                           ("eval", "evaluate a registered model under an experiment spec's protocol")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("spec", help="experiment spec (YAML)")
        s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a spec field, e.g. training.max_epochs=2")
        s.add_argument("--local", action="store_true", help="run in this process instead of as a Celery job")
        s.add_argument("--out", help="output folder (with --local)")
        s.add_argument("--no-watch", action="store_true", help="submit and return")
        s.set_defaults(func=cmd_experiment)

    s = sub.add_parser("models", help="architectures and the model registry")
    msub = s.add_subparsers(dest="models_command", required=True)
    msub.add_parser("architectures", help="every trainable architecture with its parameter count")
    msub.add_parser("list", help="registered models, versions and aliases")
    m = msub.add_parser("show", help="a model card")
    m.add_argument("ref", help="NAME[:VERSION_OR_ALIAS]")
    m = msub.add_parser("promote", help="point an alias (default: 'default') at a version")
    m.add_argument("ref", help="NAME:VERSION")
    m.add_argument("--alias", default="default")
    m = msub.add_parser("export", help="export a model to ONNX, validated against torch; --publish serves it "
                                       "with onnxruntime as a new registry version")
    m.add_argument("ref", help="NAME[:VERSION_OR_ALIAS]")
    out = m.add_mutually_exclusive_group(required=True)
    out.add_argument("--onnx", metavar="OUT.onnx", help="where to write it (a .json report goes beside)")
    out.add_argument("--publish", action="store_true",
                     help="publish a new version whose card says serving.runtime=onnxruntime, the graph as its artifact")
    m.add_argument("--int8", action="store_true", help="dynamic int8 quantisation (onnxruntime quantize_dynamic)")
    m.add_argument("--as", dest="as_name", default=None, help="with --publish: the model name (default: the same)")
    m.add_argument("--alias", default=None, help="with --publish: point this alias at the new version")
    m.add_argument("--opset", type=int, default=17)
    m.add_argument("--tolerance", type=float, default=1e-4, help="max |logit difference| ONNX Runtime vs torch")
    m = msub.add_parser("bundle", help="copy a version into the repository's bundled registry (what ships)")
    m.add_argument("ref", help="NAME[:VERSION_OR_ALIAS]")
    m.add_argument("--as", dest="as_name", default="default", help="name it ships under (default: default)")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("fit", help="fit a BOVW vocabulary or a speaker PCA on training audio (a job)")
    fsub = s.add_subparsers(dest="fit_command", required=True)
    for name, helptext in (("vocabulary", "KAZE bag-of-visual-words vocabulary (k-means, k by silhouette)"),
                           ("speaker-pca", "PCA of GE2E speaker embeddings to the model width")):
        f = fsub.add_parser(name, help=helptext)
        f.add_argument("--corpus", action="append", metavar="NAME=ROOT", help="a training corpus (repeatable)")
        f.add_argument("--manifest", help="a folder, .txt list or .jsonl manifest of training audio")
        f.add_argument("--name", default="default", help="artifact name (versions auto-increment)")
        f.add_argument("--seed", type=int, default=0)
        f.add_argument("--watch", action="store_true", help="watch with a progress bar until it ends")
        if name == "vocabulary":
            k = f.add_mutually_exclusive_group()
            k.add_argument("--k", type=int, default=128, help="vocabulary size without a search")
            k.add_argument("--k-candidates", help="comma-separated sizes to choose from by silhouette, e.g. 64,128,256")
            f.add_argument("--max-images", type=int, default=2000)
            f.add_argument("--preset", default="vacnn", help="log-mel preset")
        else:
            f.add_argument("--width", type=int, default=384, help="projected width (the model width)")
            f.add_argument("--max-utterances", type=int, default=5000)
    s.set_defaults(func=cmd_fit)

    s = sub.add_parser("report", help="compare experiment reports in one table")
    rsub = s.add_subparsers(dest="report_command", required=True)
    r = rsub.add_parser("compare", help="one table over report.json files (fine-tune results in their own section)")
    r.add_argument("reports", nargs="+", help="report.json files or the folders holding them")
    r.add_argument("--out", help="write the Markdown table here instead of printing it")
    r.add_argument("--json", help="with --out: also write the rows as JSON here")
    s.set_defaults(func=cmd_report)

    from services.cli import analyze as analyze_cli
    from services.cli import batch as batch_cli

    analyze_cli.add_parser(sub)
    sub.choices["analyze"].set_defaults(func=cmd_analyze)
    batch_cli.add_parser(sub)
    sub.choices["batch"].set_defaults(func=cmd_batch)

    s = sub.add_parser("demo", help="start the stack, analyse the sample call, print the result, stop")
    s.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    s.set_defaults(func=cmd_demo)
    return p


def unreachable(details: str, args: argparse.Namespace, settings: Settings) -> str | None:
    """'no NAME at HOST:PORT: start ...' when ``details`` is a connection failure, else None."""
    found = _TARGET.search(details)
    if found is None:
        return None
    address = next(g for g in found.groups() if g).replace("%5B", "[").replace("%5D", "]")
    names = {a.replace("localhost", "127.0.0.1"): n for n, a in settings.addresses.items()}
    if getattr(args, "gateway", None):
        names[args.gateway.replace("localhost", "127.0.0.1")] = "gateway"
    local = ", or add --local" if getattr(args, "local", None) is False else ""
    return f"no {names.get(address, 'service')} at {address}: start the stack with 'ser up'{local}"


def rpc_failure(exc: Any, args: argparse.Namespace, settings: Settings) -> str | None:
    """One line for a gRPC failure (the cause, then the fix), or None when ``exc`` is not one."""
    import grpc

    if not isinstance(exc, grpc.RpcError):
        return None
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = " ".join(((exc.details() if isinstance(exc, grpc.Call) else "") or str(exc) or code.name).split())
    line = unreachable(details, args, settings) if code == grpc.StatusCode.UNAVAILABLE else None
    fix = RPC_FIXES.get(code.name)
    return f"error ({code.name.lower()}): {line or details + (f': {fix}' if fix else '')}"


def main(argv: Sequence[str] | None = None) -> int:
    import grpc

    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return int(args.func(args, settings) or 0)
    except SerError as exc:
        print(f"error ({exc.code}): {settings.redact(str(exc))}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:  # a status from a service: one line with the cause and the fix, not a traceback
        print(settings.redact(rpc_failure(exc, args, settings) or str(exc)), file=sys.stderr)
        return EXIT_RPC_FAILURE
    except KeyboardInterrupt:
        return 130


def dump(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


if __name__ == "__main__":
    sys.exit(main())
