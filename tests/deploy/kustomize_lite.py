"""A small offline kustomize: exactly the features k8s/ uses, so the manifest tests need no binary.

Supported kustomization fields: ``resources`` (files and directories), ``patches`` (strategic merge,
from ``path`` or inline ``patch``, with an optional ``target`` of kind / name regex / equality
``labelSelector``), ``namespace``, ``labels`` (``includeSelectors: false`` only, with or without
``includeTemplates``) and ``images`` (``newName``, ``newTag``, ``digest``). Anything else raises
``UnsupportedFeature``, so a manifest change that needs more fails loudly instead of rendering wrong.

Transformers run in kustomize's order: patches, namespace, labels, images. Where kubectl is
installed, tests/deploy/test_k8s_manifests.py checks this renderer against ``kubectl kustomize``.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "patches", "namespace", "labels", "images"}
CLUSTER_SCOPED_KINDS = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
    "CustomResourceDefinition", "PriorityClass", "RuntimeClass", "IngressClass",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class UnsupportedFeature(ValueError):
    """The kustomization uses something this renderer does not implement."""


def render(directory: str | Path) -> list[Obj]:
    """Every object the kustomization in ``directory`` produces, fully transformed."""
    directory = Path(directory)
    kustomization = _load_kustomization(directory)
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(_load_documents(path))
    for patch_spec in kustomization.get("patches", []):
        _apply_patch(objects, patch_spec, directory)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED_KINDS:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for label_spec in kustomization.get("labels", []):
        _apply_labels(objects, label_spec)
    for image_spec in kustomization.get("images", []):
        for container in _containers(objects):
            container["image"] = _retag(container["image"], image_spec)
    _refuse_duplicates(objects)
    return objects


def _load_kustomization(directory: Path) -> Obj:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            unsupported = set(data) - SUPPORTED_FIELDS
            if unsupported:
                raise UnsupportedFeature(f"{path}: fields {sorted(unsupported)} are not supported by kustomize_lite")
            return data
    raise FileNotFoundError(f"no kustomization file in {directory}")


def _load_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _apply_patch(objects: list[Obj], spec: Obj, directory: Path) -> None:
    unsupported = set(spec) - {"path", "patch", "target"}
    if unsupported:
        raise UnsupportedFeature(f"patch fields {sorted(unsupported)} are not supported")
    text = (directory / spec["path"]).read_text() if "path" in spec else spec["patch"]
    patch = yaml.safe_load(text)
    if isinstance(patch, list):
        raise UnsupportedFeature("JSON6902 patches are not supported; use a strategic-merge patch")
    target = spec.get("target") or {"kind": patch["kind"], "name": re.escape(patch["metadata"]["name"])}
    matched = [obj for obj in objects if _matches(obj, target)]
    if not matched:
        raise ValueError(f"patch {spec.get('path', '<inline>')} matches no object (target {target})")
    for obj in matched:
        merged = strategic_merge(obj, {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")})
        merged["metadata"] = strategic_merge(obj["metadata"], _patchable_metadata(patch.get("metadata", {})))
        obj.clear()
        obj.update(merged)


def _patchable_metadata(metadata: Obj) -> Obj:
    """A patch's name and namespace select its target; its labels and annotations merge in."""
    return {k: v for k, v in metadata.items() if k not in ("name", "namespace")}


def _matches(obj: Obj, target: Obj) -> bool:
    unsupported = set(target) - {"kind", "name", "labelSelector"}
    if unsupported:
        raise UnsupportedFeature(f"patch target fields {sorted(unsupported)} are not supported")
    if "kind" in target and obj["kind"] != target["kind"]:
        return False
    if "name" in target and not re.fullmatch(target["name"], obj["metadata"]["name"]):
        return False
    if "labelSelector" in target:
        labels = obj["metadata"].get("labels", {})
        for term in target["labelSelector"].split(","):
            key, sep, value = term.partition("=")
            if not sep or key.endswith("!"):
                raise UnsupportedFeature(f"label selector term {term!r}: only key=value is supported")
            if labels.get(key.strip()) != value.strip():
                return False
    return True


def strategic_merge(base: Any, patch: Any) -> Any:
    """Kubernetes strategic merge, reduced to what these manifests need.

    Maps merge key by key (``null`` deletes a key). Lists whose items are all maps with a ``name``
    (containers, env, volumes, volumeMounts, ports) merge item by item on ``name``; as kustomize
    does, the patch's items come first, then the base items the patch does not name. Any other
    list is replaced.
    """
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if _named_list(base) and _named_list(patch):
        by_name = {item["name"]: item for item in base}
        merged = [strategic_merge(by_name[item["name"]], item) if item["name"] in by_name else copy.deepcopy(item)
                  for item in patch]
        patched = {item["name"] for item in patch}
        return merged + [copy.deepcopy(item) for item in base if item["name"] not in patched]
    return copy.deepcopy(patch)


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def _apply_labels(objects: list[Obj], spec: Obj) -> None:
    unsupported = set(spec) - {"pairs", "includeSelectors", "includeTemplates"}
    if unsupported or spec.get("includeSelectors", False):
        raise UnsupportedFeature("labels: only pairs with includeSelectors false (and includeTemplates) are supported")
    pairs = spec["pairs"]
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(pairs)
        if not spec.get("includeTemplates", False) or obj["kind"] not in POD_TEMPLATE_KINDS:
            continue
        obj["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        for claim in obj["spec"].get("volumeClaimTemplates", []):
            claim.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _containers(objects: list[Obj]) -> list[Obj]:
    found: list[Obj] = []
    for obj in objects:
        if obj["kind"] in POD_TEMPLATE_KINDS:
            pod = obj["spec"]["template"].get("spec", {})
            found.extend(pod.get("initContainers", []) + pod.get("containers", []))
        elif obj["kind"] == "Pod":
            found.extend(obj["spec"].get("initContainers", []) + obj["spec"].get("containers", []))
    return found


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` -> (name, tag, digest); a registry port is not mistaken for a tag."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest or None


def _retag(image: str, spec: Obj) -> str:
    unsupported = set(spec) - {"name", "newName", "newTag", "digest"}
    if unsupported:
        raise UnsupportedFeature(f"images fields {sorted(unsupported)} are not supported")
    name, tag, digest = split_image(image)
    if name != spec["name"]:
        return image
    name = spec.get("newName", name)
    if "digest" in spec:
        return f"{name}@{spec['digest']}"
    tag = str(spec.get("newTag", tag)) if spec.get("newTag", tag) is not None else None
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _refuse_duplicates(objects: list[Obj]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if key in seen:
            raise ValueError(f"duplicate object {key}")
        seen.add(key)
