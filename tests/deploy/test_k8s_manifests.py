"""Render each k8s overlay offline, validate every object against the Kubernetes schemas, check invariants.

Rendering uses tests/deploy/kustomize_lite.py (no kustomize binary needed); where kubectl is
installed, its `kubectl kustomize` output must equal ours. Schemas come with `kubernetes-validate`.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.common.server import _port_of, bind_host
from shared.settings import ENV_DOCS, SERVICE_PORTS, Settings
from tests.deploy import kustomize_lite

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("cpu", "gpu")
KUBERNETES_VERSION = "1.30"
NAMESPACE = "ser"
GPU_DEPLOYMENTS = {"inference", "worker-train"}
WORKER_QUEUES = {"worker-train": {"train"}, "worker-eval": {"eval"}, "worker-batch": {"batch", "fit", "default"}}
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
# variables the deployment sets that are not Settings fields: roles, secrets, and TLS (a later change)
DEPLOY_ONLY_VARS = {"SER_SERVICE", "SER_ROLE", "SER_QUEUES", "SER_WORKER_CONCURRENCY", "SER_REDIS_PASSWORD",
                    "SER_GATEWAY_TOKEN", "SER_TLS_CERT", "SER_TLS_KEY", "SER_TLS_CA", "OMP_NUM_THREADS",
                    "MALLOC_ARENA_MAX"}

Obj = dict[str, Any]


@functools.cache
def _rendered(overlay: str) -> tuple[Obj, ...]:
    return tuple(kustomize_lite.render(ROOT / "k8s" / "overlays" / overlay))


def rendered(overlay: str) -> list[Obj]:
    return json.loads(json.dumps(_rendered(overlay)))  # a private copy per test


def by_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def workloads(objects: list[Obj]) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] in WORKLOAD_KINDS}


def pod_spec(workload: Obj) -> Obj:
    return workload["spec"]["template"]["spec"]


def containers(workload: Obj) -> list[Obj]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def is_documented(var: str) -> bool:
    match = re.fullmatch(r"SER_([A-Z]+)_ADDR", var)
    if match:
        return match.group(1).lower() in SERVICE_PORTS
    return var in ENV_DOCS or var in DEPLOY_ONLY_VARS


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# -- rendering and schemas ------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renderer_matches_kubectl_kustomize(overlay: str) -> None:
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "k8s" / "overlays" / overlay)],
                         capture_output=True, text=True, check=True, timeout=60).stdout

    def key(o: Obj) -> tuple[str, str, str]:
        return o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]

    theirs = {key(o): o for o in yaml.safe_load_all(out) if o}
    ours = {key(o): o for o in rendered(overlay)}
    assert sorted(ours) == sorted(theirs)
    for k, obj in ours.items():
        assert obj == theirs[k], f"{k} differs from kubectl kustomize"


def test_every_object_validates_against_the_kubernetes_schema() -> None:
    """Strict: an unknown or misspelt field fails, as does a wrong type. Identical objects are checked once."""
    unique = {json.dumps(o, sort_keys=True): o for overlay in OVERLAYS for o in rendered(overlay)}
    assert len(unique) > 20
    for obj in unique.values():
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = by_kind(rendered("cpu"), "Deployment")["gateway"]
    pod_spec(deployment)["containers"][0]["livenessprobe"] = pod_spec(deployment)["containers"][0].pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_renderer_refuses_features_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(kustomize_lite.UnsupportedFeature, match="namePrefix"):
        kustomize_lite.render(tmp_path)


# -- what must exist --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_grpc_service_has_a_deployment_service_and_disruption_budget(overlay: str) -> None:
    objects = rendered(overlay)
    deployments, services, pdbs = by_kind(objects, "Deployment"), by_kind(objects, "Service"), by_kind(
        objects, "PodDisruptionBudget")
    for name, port in SERVICE_PORTS.items():
        container = pod_spec(deployments[name])["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["SER_SERVICE"] == name
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port]
        assert selects(pdbs[name]["spec"]["selector"]["matchLabels"],
                       deployments[name]["spec"]["template"]["metadata"]["labels"])
    assert all(o["metadata"].get("namespace") == NAMESPACE for o in objects if o["kind"] != "Namespace")
    assert by_kind(objects, "Namespace").keys() == {NAMESPACE}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_http_api_has_a_deployment_service_and_disruption_budget(overlay: str) -> None:
    objects = rendered(overlay)
    deployment = by_kind(objects, "Deployment")["http"]
    container = pod_spec(deployment)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    settings = Settings.from_env(env={**by_kind(objects, "ConfigMap")["ser-config"]["data"],
                                      **{k: v for k, v in env.items() if v is not None}})
    assert env["SER_SERVICE"] == "http" and settings.http_host == "0.0.0.0"
    assert [p["containerPort"] for p in container["ports"]] == [settings.http_port]
    assert [p["port"] for p in by_kind(objects, "Service")["http"]["spec"]["ports"]] == [settings.http_port]
    assert selects(by_kind(objects, "PodDisruptionBudget")["http"]["spec"]["selector"]["matchLabels"],
                   deployment["spec"]["template"]["metadata"]["labels"])
    assert settings.address("gateway") == "gateway:50050" and settings.data_roots == (Path("/var/lib/ser/data"),)
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/var/lib/ser/data", "/var/lib/ser/artifacts"}
    assert not any(e["name"] == "SER_REDIS_URL" for e in container["env"]), "the HTTP API needs no Redis"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_worker_deployment_per_queue_group_covers_every_celery_queue(overlay: str) -> None:
    from services.jobs.app import QUEUES

    deployments = by_kind(rendered(overlay), "Deployment")
    served: set[str] = set()
    for name, queues in WORKER_QUEUES.items():
        env = {e["name"]: e.get("value") for e in pod_spec(deployments[name])["containers"][0]["env"]}
        assert env["SER_ROLE"] == "worker"
        assert set(env["SER_QUEUES"].split(",")) == queues
        served |= queues
    assert served == set(QUEUES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hpas_scale_the_call_path_which_leaves_replicas_to_them(overlay: str) -> None:
    """Gateway and inference, and features and speaker, which do the feature work with SER_PIPELINE=services."""
    objects = rendered(overlay)
    hpas, deployments = by_kind(objects, "HorizontalPodAutoscaler"), by_kind(objects, "Deployment")
    assert set(hpas) == {"gateway", "inference", "features", "speaker"}
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployments[name]["spec"], f"{name}: a fixed replica count fights the HPA"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_is_a_persistent_passworded_statefulset(overlay: str) -> None:
    redis = by_kind(rendered(overlay), "StatefulSet")["redis"]
    claims = redis["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["data"]
    container = pod_spec(redis)["containers"][0]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert "requirepass" in " ".join(container["command"]) and "--appendonly yes" in " ".join(container["command"])
    secret_keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert secret_keys["REDIS_PASSWORD"] == {"name": "ser-secrets", "key": "redis-password"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_platform_pod_mounts_the_shared_artifacts_volume(overlay: str) -> None:
    objects = rendered(overlay)
    assert by_kind(objects, "PersistentVolumeClaim")["ser-artifacts"]["spec"]["accessModes"] == ["ReadWriteMany"]
    config = by_kind(objects, "ConfigMap")["ser-config"]["data"]
    for name, deployment in by_kind(objects, "Deployment").items():
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == "ser-artifacts", name
        mounts = {m["name"]: m["mountPath"] for m in pod_spec(deployment)["containers"][0]["volumeMounts"]}
        assert mounts["artifacts"] == config["SER_ARTIFACTS_DIR"], name


# -- invariants ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_and_resource_requests_and_limits(overlay: str) -> None:
    for name, workload in workloads(rendered(overlay)).items():
        for c in containers(workload):
            where = f"{name}/{c['name']}"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in c, f"{where}: no {probe}"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"].get(bound, {})), f"{where}: {bound} lack cpu/memory"
            role = workload["metadata"]["labels"].get("app.kubernetes.io/component")
            if role == "grpc-service":
                port = c["ports"][0]["containerPort"]
                assert c["livenessProbe"]["grpc"] == {"port": port}, where
                assert c["readinessProbe"]["grpc"] == {"port": port}, where
            elif role == "http-service":
                assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, where
                assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, where
            elif role == "celery-worker":
                assert c["livenessProbe"]["exec"]["command"][:3] == ["python", "/opt/ser/healthcheck.py", "worker"]
                assert c["readinessProbe"]["exec"]["command"][:3] == ["python", "/opt/ser/healthcheck.py", "worker"]
            else:
                assert name == "redis", f"{where}: unexpected component label {role!r}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_container_runs_as_root_or_writes_its_root_filesystem(overlay: str) -> None:
    for name, workload in workloads(rendered(overlay)).items():
        pod = pod_spec(workload)
        pod_ctx = pod.get("securityContext", {})
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for c in containers(workload):
            ctx = {**pod_ctx, **c.get("securityContext", {})}
            where = f"{name}/{c['name']}"
            assert ctx.get("runAsNonRoot") is True, where
            assert isinstance(ctx.get("runAsUser"), int) and ctx["runAsUser"] != 0, where
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, where
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in c["volumeMounts"]), where


def _gpu_limit(container: Obj) -> Any:
    return container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")


def test_the_cpu_overlay_has_no_gpu_anything() -> None:
    text = json.dumps(rendered("cpu"))
    assert "nvidia" not in text and "cuda" not in text
    images = {c["image"] for w in workloads(rendered("cpu")).values() for c in containers(w)}
    assert images == {"ser-platform:0.1.0-cpu", "redis:7.4-alpine"}


def test_the_gpu_overlay_puts_inference_and_training_on_gpu_nodes_only() -> None:
    objects = rendered("gpu")
    for name, workload in workloads(objects).items():
        pod = pod_spec(workload)
        container = pod["containers"][0]
        if name in GPU_DEPLOYMENTS:
            assert _gpu_limit(container) == 1, name
            assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}, name
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"], name
            assert container["image"] == "ser-platform:0.1.0-cuda", name
        else:
            assert _gpu_limit(container) is None and "nodeSelector" not in pod and "tolerations" not in pod, name
            assert "cuda" not in container["image"], name
    # the only other difference from the CPU overlay: the inference HPA stays small (one GPU per pod)
    cpu = {(o["kind"], o["metadata"]["name"]) for o in rendered("cpu")}
    assert cpu == {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert by_kind(objects, "HorizontalPodAutoscaler")["inference"]["spec"]["maxReplicas"] <= 4


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_selects_a_workloads_pods_on_a_named_port(overlay: str) -> None:
    objects = rendered(overlay)
    pods = [pod_spec(w) | {"labels": w["spec"]["template"]["metadata"]["labels"]} for w in workloads(objects).values()]
    for name, service in by_kind(objects, "Service").items():
        matching = [p for p in pods if selects(service["spec"]["selector"], p["labels"])]
        assert len(matching) == 1, f"service {name} selects {len(matching)} workloads"
        port_names = {p["name"] for c in matching[0]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"service {name}: targetPort {port['targetPort']} not a pod port"
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", f"service {name} is exposed outside the cluster"
        if name in ("preprocess", "features", "speaker", "inference"):  # clients reach each pod, not a virtual IP
            assert service["spec"].get("clusterIP") == "None", f"service {name} is not headless"


def _admits_outside_namespace(rule: Obj) -> bool:
    """An ingress rule admits traffic from outside the namespace unless every peer is a bare podSelector."""
    peers = rule.get("from")
    if not peers:
        return True
    return any("namespaceSelector" in peer or "ipBlock" in peer for peer in peers)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_expose_only_the_gateway_and_the_http_api_outside_the_namespace(overlay: str) -> None:
    objects = rendered(overlay)
    policies = by_kind(objects, "NetworkPolicy")
    deny_all = [p for p in policies.values() if p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"]
                and not p["spec"].get("ingress")]
    assert deny_all, "no default-deny ingress policy"
    public = {"gateway": SERVICE_PORTS["gateway"], "http": Settings().http_port}
    labels_of = {n: w["spec"]["template"]["metadata"]["labels"] for n, w in workloads(objects).items()}
    exposed: dict[str, list[Any]] = {}
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            if not _admits_outside_namespace(rule):
                continue
            selector = policy["spec"]["podSelector"].get("matchLabels", {})
            selected = [n for n, labels in labels_of.items() if selects(selector, labels)]
            assert len(selected) == 1 and selected[0] in public, f"{name} admits outside traffic to {selected}"
            exposed.setdefault(selected[0], []).extend(p["port"] for p in rule.get("ports", []))
    assert exposed == {name: [port] for name, port in public.items()}


# -- configuration and secrets --------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_in_config_and_env_are_ones_the_code_reads(overlay: str) -> None:
    objects = rendered(overlay)
    config = by_kind(objects, "ConfigMap")["ser-config"]["data"]
    names = set(config)
    for name, deployment in by_kind(objects, "Deployment").items():
        names |= {e["name"] for e in pod_spec(deployment)["containers"][0].get("env", [])}
        assert {"configMapRef": {"name": "ser-config"}} in pod_spec(deployment)["containers"][0]["envFrom"], name
    undocumented = sorted(n for n in names if not is_documented(n))
    assert not undocumented, f"not in shared/settings.py ENV_DOCS: {undocumented}"
    settings = Settings.from_env(env=config)  # parses as the code does: no bad numbers
    for service, port in SERVICE_PORTS.items():
        # internal services: every pod behind the headless Service, balanced round_robin by the clients
        assert settings.address(service) == (f"{service}:{port}" if service == "gateway" else f"dns:///{service}:{port}")
        assert bind_host(settings.address(service)) == "0.0.0.0"  # a DNS name binds every interface
        assert _port_of(settings.address(service)) == port
    assert settings.pipeline == "services"  # inference pods only run forward passes
    assert settings.artifacts_dir == Path("/var/lib/ser/artifacts") and settings.data_roots == (Path("/var/lib/ser/data"),)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_committed(overlay: str) -> None:
    objects = rendered(overlay)
    assert not by_kind(objects, "Secret"), "secret values must not be in the manifests"
    refs: set[tuple[str, str, bool]] = set()
    for name, workload in workloads(objects).items():
        for c in containers(workload):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"], ref.get("optional", False)))
                    assert "value" not in e
            env = {e["name"]: e for e in c.get("env", [])}
            if "SER_REDIS_URL" in env:  # the password is expanded from the Secret, never written out
                order = list(env)
                assert env["SER_REDIS_URL"]["value"] == "redis://:$(SER_REDIS_PASSWORD)@redis:6379/0", name
                assert order.index("SER_REDIS_PASSWORD") < order.index("SER_REDIS_URL"), name
        secret_volumes = {v["secret"]["secretName"]: v["secret"].get("optional", False)
                          for v in pod_spec(workload).get("volumes", []) if "secret" in v}
        assert secret_volumes in ({}, {"ser-tls": True}), name
    assert refs == {("ser-secrets", "redis-password", False), ("ser-secrets", "gateway-token", True),
                    ("ser-secrets", "service-token", True), ("ser-secrets", "webhook-secret", True)}
    deployments = by_kind(objects, "Deployment")
    with_redis = {n for n, d in deployments.items()
                  if any(e["name"] == "SER_REDIS_URL" for e in pod_spec(d)["containers"][0].get("env", []))}
    assert with_redis == {"gateway", *WORKER_QUEUES}, "only the gateway and workers get the Redis password"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_gets_the_service_token_and_gateway_clients_the_gateway_token(overlay: str) -> None:
    """Internal services require SER_SERVICE_TOKEN (when the Secret has it) and the gateway and workers send it;
    the gateway requires SER_GATEWAY_TOKEN and the workers (analyze_batch) send it."""
    deployments = by_kind(rendered(overlay), "Deployment")
    for name, deployment in deployments.items():
        env = {e["name"]: e for e in pod_spec(deployment)["containers"][0].get("env", [])}
        assert env["SER_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "service-token", name
        assert ("SER_GATEWAY_TOKEN" in env) == (name in {"gateway", "http", *WORKER_QUEUES}), name
        # the gateway checks callback URLs at submit with it; the workers sign deliveries with it
        assert ("SER_WEBHOOK_SECRET" in env) == (name in {"gateway", *WORKER_QUEUES}), name
    config = by_kind(rendered(overlay), "ConfigMap")["ser-config"]["data"]
    assert config["MALLOC_ARENA_MAX"] == "2"
