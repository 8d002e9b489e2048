"""A small renderer for the subset of kustomize that deploy/k8s uses, so the tests need no
kustomize binary (none installs from the package registries this project uses).

    objects = render(Path("deploy/k8s/overlays/prod"))      # list of dicts, like `kustomize build`

Supported kustomization fields, and nothing else (anything unknown raises `Unsupported`):
`resources` (files or directories holding a kustomization), `namespace`, `images`
(`name` -> `newName`/`newTag`/`digest`), `replicas`, and `patches` given as files of
strategic-merge patches (target = the patch's apiVersion/kind/name). Strategic merge is
implemented for what our patches touch: maps merge recursively, lists merge by their
Kubernetes merge key (containers and env and volumes by `name`, volumeMounts by
`mountPath`, container ports by `containerPort`) for built-in kinds; every other list, and
every list of a custom resource (JSON merge patch, as kustomize does), is replaced whole.

The test suite compares this renderer with `kubectl kustomize` wherever one is installed.
This is tooling, like devstack.py: no service imports it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
)
# Strategic-merge keys of the lists our manifests patch (k8s.io/api `patchMergeKey` tags).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
# Kinds whose `spec.replicas` the `replicas` field sets.
SCALABLE_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
CLUSTER_SCOPED_KINDS = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
     "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass"}
)


class Unsupported(ValueError):
    """The kustomization uses something this renderer does not implement."""


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kustomize build directory` would produce (in resource order)."""
    directory = directory.resolve()
    kustomization = _load_kustomization(directory)
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise Unsupported(f"{directory}: unsupported kustomization fields {sorted(unknown)}")

    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(load_objects(path))
    _check_unique(objects, directory)

    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise Unsupported(f"{directory}: only file patches are supported, got {patch_entry}")
        for patch in load_objects(directory / patch_entry["path"]):
            target = _find(objects, patch)
            merged = strategic_merge(target, patch, builtin="." not in _group(patch))
            objects[objects.index(target)] = merged

    for replica in kustomization.get("replicas", []):
        matches = [o for o in objects if o["kind"] in SCALABLE_KINDS
                   and o["metadata"]["name"] == replica["name"]]
        if not matches:
            raise Unsupported(f"{directory}: replicas for unknown workload {replica['name']}")
        for obj in matches:
            obj.setdefault("spec", {})["replicas"] = replica["count"]

    for image in kustomization.get("images", []):
        for container in _containers(objects):
            container["image"] = _retag(container["image"], image)

    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED_KINDS:
                obj["metadata"]["namespace"] = namespace
    return objects


def load_objects(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def strategic_merge(base: Any, patch: Any, *, builtin: bool, key: str | None = None) -> Any:
    """`patch` merged into a copy of `base` (see the module docstring for the rules)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            if isinstance(value, str) and value.startswith("$patch") or name.startswith("$"):
                raise Unsupported(f"patch directive {name!r} is not supported")
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = strategic_merge(merged[name], value, builtin=builtin, key=name)
            else:
                merged[name] = copy.deepcopy(value)
        return merged
    merge_key = MERGE_KEYS.get(key or "") if builtin else None
    if isinstance(base, list) and isinstance(patch, list) and merge_key:
        merged_list = copy.deepcopy(base)
        for item in patch:
            existing = next(
                (i for i, old in enumerate(merged_list) if old.get(merge_key) == item[merge_key]),
                None,
            )
            if existing is None:
                merged_list.append(copy.deepcopy(item))
            else:
                merged_list[existing] = strategic_merge(
                    merged_list[existing], item, builtin=builtin
                )
        return merged_list
    return copy.deepcopy(patch)


def _load_kustomization(directory: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.exists():
            with path.open(encoding="utf-8") as f:
                return yaml.safe_load(f) or {}
    raise FileNotFoundError(f"no kustomization file in {directory}")


def _group(obj: dict[str, Any]) -> str:
    api_version: str = obj["apiVersion"]
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    return (_group(obj), obj["kind"], obj["metadata"]["name"])


def _check_unique(objects: list[dict[str, Any]], directory: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        ident = _identity(obj)
        if ident in seen:
            raise ValueError(f"{directory}: {ident} is defined twice")
        seen.add(ident)


def _find(objects: list[dict[str, Any]], patch: dict[str, Any]) -> dict[str, Any]:
    for obj in objects:
        if _identity(obj) == _identity(patch):
            return obj
    raise ValueError(f"patch target {_identity(patch)} not found")


def _containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        found.extend(pod.get("containers", []))
        found.extend(pod.get("initContainers", []))
    return found


def _retag(image: str, rule: dict[str, Any]) -> str:
    name, tag, digest = _split_image(image)
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    if "digest" in rule:
        return f"{name}@{rule['digest']}"
    tag = rule.get("newTag", tag)
    if digest and "newTag" not in rule:
        return f"{name}@{digest}"
    return f"{name}:{tag}" if tag else name


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, None, digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:], None
    return image, None, None
