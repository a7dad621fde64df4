"""Static checks of deploy/Dockerfile, deploy/entrypoint.sh and the compose files (no Docker engine here).

The entrypoint's role dispatch is run for real under /bin/sh with stub `ser` and `celery` commands.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from shared.settings import ENV_DOCS, SERVICE_PORTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_UID = 10001
WORKERS = {"worker-train": {"train"}, "worker-eval": {"eval"}, "worker-batch": {"batch", "fit", "default"}}
DEPLOY_ONLY_VARS = {"SER_SERVICE", "SER_ROLE", "SER_QUEUES", "SER_WORKER_CONCURRENCY", "SER_GATEWAY_TOKEN"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int

    def exec_form(self) -> list[str]:
        return json.loads(self.args)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped; ``stage`` counts FROMs (-1 before)."""
    instructions: list[Instruction] = []
    stage, pending = -1, ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        pending = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, " ".join(args.split()), stage))
    assert not pending, "Dockerfile ends inside a continuation line"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile((DEPLOY / "Dockerfile").read_text())


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def load_compose(*names: str) -> dict[str, Any]:
    """Compose files merged as `docker compose -f a -f b` does for the keys used here (maps merge)."""
    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base[k], v) if k in base else v for k, v in over.items()}}
        return over

    merged: dict[str, Any] = {}
    for name in names:
        merged = merge(merged, yaml.safe_load((DEPLOY / name).read_text()))
    return merged


# -- Dockerfile -----------------------------------------------------------------------------------


def test_parser_joins_continuations_and_counts_stages() -> None:
    parsed = parse_dockerfile("# c\nARG A=1\nFROM x AS b\nRUN a \\\n  # note\n  && b\nFROM y\nUSER 5\n")
    assert parsed == [Instruction("ARG", "A=1", -1), Instruction("FROM", "x AS b", 0),
                      Instruction("RUN", "a && b", 0), Instruction("FROM", "y", 1), Instruction("USER", "5", 1)]


def test_dockerfile_is_multi_stage_and_the_runtime_copies_only_the_venv_from_the_builder(
        dockerfile: list[Instruction]) -> None:
    froms = [i for i in dockerfile if i.keyword == "FROM"]
    assert len(froms) >= 2
    assert froms[0].args.endswith("AS builder")
    from_builder = [i.args for i in final_stage(dockerfile) if i.keyword == "COPY" and "--from=builder" in i.args]
    assert from_builder == ["--from=builder /opt/venv /opt/venv"]
    # the base is a build argument (CPU default), and the torch variant picks the wheel index
    assert froms[0].args.startswith("${PYTHON_IMAGE}") and froms[-1].args.startswith("${PYTHON_IMAGE}")
    assert any(i.keyword == "ARG" and i.args.startswith("TORCH_VARIANT=cpu") for i in dockerfile)


def test_runtime_runs_as_the_unprivileged_user_it_creates(dockerfile: list[Instruction]) -> None:
    final = final_stage(dockerfile)
    users = [i.args for i in final if i.keyword == "USER"]
    assert users == [f"{APP_UID}:{APP_UID}"]
    runs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert f"--uid {APP_UID}" in runs and f"--gid {APP_UID}" in runs
    # nothing after USER switches back or runs as root
    after_user = final[[i.keyword for i in final].index("USER"):]
    assert not [i for i in after_user if i.keyword in ("RUN", "USER") and i.args.startswith("0")]


def test_healthcheck_and_entrypoint_are_scripts_the_image_copies(dockerfile: list[Instruction]) -> None:
    final = final_stage(dockerfile)
    health = [i for i in final if i.keyword == "HEALTHCHECK"]
    assert len(health) == 1
    cmd = json.loads(health[0].args.split(" CMD ", 1)[1])
    assert cmd == ["python", "/opt/ser/healthcheck.py"]
    entry = [i.exec_form() for i in final if i.keyword == "ENTRYPOINT"]
    assert entry == [["/opt/ser/entrypoint.sh"]]
    copies = [i.args for i in final if i.keyword == "COPY" and "/opt/ser/" in i.args]
    assert copies == ["--chmod=0755 deploy/entrypoint.sh deploy/healthcheck.py /opt/ser/"]


def test_no_remote_add_and_every_copied_source_exists(dockerfile: list[Instruction]) -> None:
    assert not [i for i in dockerfile if i.keyword == "ADD" and re.search(r"https?://|git@", i.args)]
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for i in dockerfile:
        if i.keyword != "COPY" or "--from=" in i.args:
            continue
        sources = [a for a in shlex.split(i.args) if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
            assert source.split("/")[0] not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_pinned_installs_match_pyproject_and_makefile(dockerfile: list[Instruction]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {r.name: r for r in map(Requirement, pyproject["project"]["dependencies"])}
    runs = " ".join(i.args for i in dockerfile if i.keyword == "RUN")
    pins = dict(re.findall(r"\b(torch|torchaudio|torchvision)==([\w.]+)", runs))
    assert set(pins) == {"torch", "torchaudio", "torchvision"}
    for name, version in pins.items():
        assert version in wanted[name].specifier, f"{name}=={version} does not satisfy pyproject's {wanted[name]}"
    makefile_pin = re.search(r"--no-deps (resemblyzer==[\w.]+)", (ROOT / "Makefile").read_text()).group(1)
    assert f"pip install --no-deps {makefile_pin}" in runs
    assert re.search(r"pip install \. ", runs + " "), "the image installs the project non-editable"


def test_environment_baked_into_the_image_is_read_by_the_code(dockerfile: list[Instruction]) -> None:
    env = " ".join(i.args for i in final_stage(dockerfile) if i.keyword == "ENV")
    names = {n for n in re.findall(r"\b([A-Z_][A-Z0-9_]*)=", env) if n.startswith("SER_")}
    assert names and not [n for n in names if n not in ENV_DOCS and n not in DEPLOY_ONLY_VARS]


# -- entrypoint -----------------------------------------------------------------------------------


def _run_entrypoint(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run entrypoint.sh with `ser` and `celery` replaced by stubs that print their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("ser", "celery"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho {tool} "$@"\n')
        stub.chmod(0o755)
    return subprocess.run(["/bin/sh", str(DEPLOY / "entrypoint.sh"), *args], capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env}, timeout=10)


def test_entrypoint_serves_the_named_service_with_a_real_ser_subcommand(tmp_path: Path) -> None:
    from services.cli.main import build_parser

    done = _run_entrypoint(tmp_path, {"SER_SERVICE": "preprocess"})
    assert done.returncode == 0 and done.stdout.split() == ["ser", "serve", "preprocess"]
    parsed = build_parser().parse_args(done.stdout.split()[1:])
    assert parsed.command == "serve" and parsed.name in SERVICE_PORTS


def test_entrypoint_starts_a_worker_on_its_queues(tmp_path: Path) -> None:
    done = _run_entrypoint(tmp_path, {"SER_ROLE": "worker", "SER_QUEUES": "batch,fit,default"})
    assert done.returncode == 0
    assert done.stdout.split() == ["celery", "-A", "services.jobs.app", "worker", "--queues", "batch,fit,default",
                                   "--concurrency", "1", "--loglevel", "INFO"]


def test_entrypoint_refuses_a_missing_service_or_unknown_role_and_runs_explicit_commands(tmp_path: Path) -> None:
    missing = _run_entrypoint(tmp_path, {})
    assert missing.returncode != 0 and "SER_SERVICE must name a service" in missing.stderr
    bad_role = _run_entrypoint(tmp_path, {"SER_ROLE": "nope"})
    assert bad_role.returncode == 64 and "SER_ROLE must be" in bad_role.stderr
    explicit = _run_entrypoint(tmp_path, {}, "ser", "models", "list")
    assert explicit.returncode == 0 and explicit.stdout.split() == ["ser", "models", "list"]


# -- compose --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose("compose.yaml")


def test_compose_runs_every_service_workers_per_queue_group_and_redis(compose: dict[str, Any]) -> None:
    from services.jobs.app import QUEUES

    services = compose["services"]
    assert set(services) == {"redis", *SERVICE_PORTS, "http", *WORKERS}
    assert services["http"]["environment"]["SER_SERVICE"] == "http"
    assert services["http"]["environment"]["SER_HTTP_HOST"] == "0.0.0.0"
    assert services["http"]["environment"]["SER_GATEWAY_ADDR"] == "gateway:50050"
    for name in SERVICE_PORTS:
        env = services[name]["environment"]
        assert env["SER_SERVICE"] == name
        assert env["SER_PIPELINE"] == "services"
        for other, port in SERVICE_PORTS.items():  # internal services by dns:///, every replica balanced
            assert env[f"SER_{other.upper()}_ADDR"] == (f"{other}:{port}" if other == "gateway"
                                                        else f"dns:///{other}:{port}")
    served: set[str] = set()
    for name, queues in WORKERS.items():
        env = services[name]["environment"]
        assert env["SER_ROLE"] == "worker" and set(env["SER_QUEUES"].split(",")) == queues
        served |= queues
    assert served == set(QUEUES)


def test_compose_publishes_only_the_gateway_and_the_http_api(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in compose["services"].items() if s.get("ports")}
    assert published == {"gateway": ["${SER_GATEWAY_PORT:-50050}:50050"], "http": ["${SER_HTTP_PORT:-8080}:8080"]}
    assert compose["services"]["http"]["depends_on"] == {"gateway": {"condition": "service_healthy"}}


def test_compose_services_are_non_root_read_only_and_health_checked(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service["user"].split(":")[0] not in ("0", "root"), name
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        test = service["healthcheck"]["test"]
        if name == "redis":
            assert test == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
        else:
            assert service["user"] == f"{APP_UID}:{APP_UID}"
            assert test[:3] == ["CMD", "python", "/opt/ser/healthcheck.py"], name
            assert (test[3:4] == ["worker"]) == (name in WORKERS), name


def test_compose_waits_for_healthy_dependencies_without_cycles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    graph = {name: s.get("depends_on", {}) for name, s in services.items()}
    for name, deps in graph.items():
        for dep, how in deps.items():
            assert dep in services and how == {"condition": "service_healthy"}, f"{name} -> {dep}"
            assert "healthcheck" in services[dep]
    assert set(graph["gateway"]) == {"redis", "preprocess", "features", "speaker", "inference"}
    assert all("redis" in graph[w] for w in WORKERS)

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"dependency cycle {path + (node,)}"
        for dep in graph[node]:
            visit(dep, path + (node,))

    for name in graph:
        visit(name, ())


def test_compose_redis_has_a_password_and_a_volume_and_only_job_clients_get_it(compose: dict[str, Any]) -> None:
    services = compose["services"]
    redis = services["redis"]
    assert "requirepass" in " ".join(redis["command"]) and "redis-data:/data" in redis["volumes"]
    assert "redis-data" in compose["volumes"] and "artifacts" in compose["volumes"]
    with_url = {n for n, s in services.items() if "SER_REDIS_URL" in s.get("environment", {})}
    assert with_url == {"gateway", *WORKERS}
    for name in with_url:
        assert services[name]["environment"]["SER_REDIS_URL"].startswith("redis://:${SER_REDIS_PASSWORD:?")
    for name in (*SERVICE_PORTS, "http", *WORKERS):
        assert "artifacts:/var/lib/ser/artifacts" in services[name]["volumes"], name


def test_compose_variables_are_all_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{(\w+)", (DEPLOY / "compose.yaml").read_text() + (DEPLOY / "compose.gpu.yaml").read_text()))
    example = {line.split("=", 1)[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used - example <= {"SER_IMAGE_CUDA", "SER_CUDA_VARIANT"}, used - example


def test_gpu_override_gives_inference_and_training_a_gpu_and_the_cuda_image() -> None:
    merged = load_compose("compose.yaml", "compose.gpu.yaml")
    gpu_services = set(yaml.safe_load((DEPLOY / "compose.gpu.yaml").read_text())["services"])
    assert gpu_services == {"inference", "worker-train"}
    for name, service in merged["services"].items():
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        if name in gpu_services:
            assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
            assert "cuda" in service["image"] and service["build"]["args"]["TORCH_VARIANT"].startswith("${")
            assert service["environment"]["SER_TORCH_THREADS"] in ("2", "4"), name  # the base's env is kept
        else:
            assert not devices and "cuda" not in service.get("image", ""), name


def test_env_example_holds_no_real_secret() -> None:
    values = dict(line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert values["SER_REDIS_PASSWORD"] == "change-me" and values["SER_GATEWAY_TOKEN"] == ""
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_compose_gives_every_service_the_service_token_and_gateway_clients_the_gateway_token(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (*SERVICE_PORTS, "http", *WORKERS):
        env = services[name]["environment"]
        assert env["SER_SERVICE_TOKEN"] == "${SER_SERVICE_TOKEN:-}" and env["MALLOC_ARENA_MAX"] == "2", name
        assert ("SER_GATEWAY_TOKEN" in env) == (name in ("gateway", "http", "worker-batch")), name
        # the gateway checks callback URLs at submit; worker-batch (the default queue) delivers webhooks
        assert ("SER_WEBHOOK_SECRET" in env) == ("SER_WEBHOOK_ALLOW" in env) == (name in ("gateway", "worker-batch"))
