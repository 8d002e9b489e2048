"""deploy/k8s: every overlay renders, every object is valid offline, and the manifests agree
with the code (ports, probes, settings, CLI, shutdown grace, image entrypoint)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kefu_common.kustomize import render
from kefu_common.settings import PROJECT_ROOT

K8S = PROJECT_ROOT / "deploy" / "k8s"
OVERLAYS = ("base", "overlays/dev", "overlays/prod")
KUBERNETES_VERSION = "1.33"  # oldest minor we target: native grpc probes, preStop `sleep`
GRPC_SERVICES = ("ticketing", "escalation", "scoring")
PLATFORM_VARIABLES = {"KEFU_ENV", "KEFU_LOG_FORMAT", "KEFU_LOG_LEVEL", "DATABASE_URL"}


def _settings_class(service: str) -> type[Any]:
    from kefu_escalation.settings import EscalationSettings
    from kefu_gateway.settings import GatewaySettings
    from kefu_scoring.settings import ScoringSettings
    from kefu_ticketing.settings import TicketingSettings

    return {
        "ticketing": TicketingSettings,
        "escalation": EscalationSettings,
        "scoring": ScoringSettings,
        "gateway": GatewaySettings,
    }[service]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(K8S / request.param)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def deployments(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(service, deployment, its one container) for the four services."""
    for name, deployment in by_kind(objects, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        yield name.removeprefix("kefu-"), deployment, container


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def config(objects: list[dict[str, Any]], service: str) -> dict[str, str]:
    return by_kind(objects, "ConfigMap")[f"kefu-{service}"]["data"]


def port_named(container: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return int(port)


def test_every_object_validates_against_the_kubernetes_and_cloudnativepg_schemas(rendered) -> None:
    cnpg = json.loads((K8S / "schemas" / "cnpg-cluster-v1.json").read_text())
    kinds = set()
    for obj in rendered:
        kinds.add(obj["kind"])
        if obj["apiVersion"].startswith("postgresql.cnpg.io/"):
            jsonschema.validate(obj, cnpg)
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Cluster", "Job", "Ingress",
            "NetworkPolicy"} <= kinds


def test_schema_validation_rejects_a_misspelt_field() -> None:
    """The validation is strict: an unknown field fails, for built-in kinds and the CRD."""
    objects = render(K8S / "base")
    deployment = by_kind(objects, "Deployment")["kefu-ticketing"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grcp"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    cluster = by_kind(objects, "Cluster")["kefu-db"]
    cluster["spec"]["instance"] = 3
    cnpg = json.loads((K8S / "schemas" / "cnpg-cluster-v1.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster, cnpg)


@pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")),
    reason="no kustomize or kubectl binary on this machine to compare with",
)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renderer_output_equals_kustomize_build(overlay: str) -> None:
    command = (["kustomize", "build"] if shutil.which("kustomize") else ["kubectl", "kustomize"])
    out = subprocess.run([*command, str(K8S / overlay)], check=True, capture_output=True, text=True)
    theirs = [o for o in yaml.safe_load_all(out.stdout) if o]

    def key(o: dict[str, Any]) -> tuple[str, str, str]:
        return (o["apiVersion"], o["kind"], o["metadata"]["name"])

    assert {key(o): o for o in render(K8S / overlay)} == {key(o): o for o in theirs}


def test_grpc_probes_and_ports_match_the_service_settings(rendered) -> None:
    services = by_kind(rendered, "Service")
    seen = set()
    for service, _, container in deployments(rendered):
        if service not in GRPC_SERVICES:
            continue
        seen.add(service)
        default_port = _settings_class(service).model_fields["grpc_port"].default
        configured = int(config(rendered, service)[f"{service.upper()}_GRPC_PORT"])
        assert configured == default_port == port_named(container, "grpc")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            # Native gRPC probes take a port number (not a name): grpc.health.v1 on that port.
            assert container[probe]["grpc"]["port"] == default_port, (service, probe)
        (svc_port,) = [p for p in services[f"kefu-{service}"]["spec"]["ports"] if p["name"] == "grpc"]
        assert svc_port["targetPort"] == "grpc"
        assert int(config(rendered, service)[f"{service.upper()}_METRICS_PORT"]) == port_named(
            container, "metrics"
        )
    assert seen == set(GRPC_SERVICES)


def test_gateway_http_probes_hit_real_routes_on_the_configured_port(rendered) -> None:
    from kefu_gateway.app import create_app

    (container,) = [c for s, _, c in deployments(rendered) if s == "gateway"]
    settings_cls = _settings_class("gateway")
    assert int(config(rendered, "gateway")["GATEWAY_HTTP_PORT"]) == settings_cls.model_fields[
        "http_port"
    ].default == port_named(container, "http")
    routes = set(create_app(settings_cls(), configure_logs=False).openapi()["paths"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"/readyz", "/healthz"} <= routes
    (svc_port,) = by_kind(rendered, "Service")["kefu-gateway"]["spec"]["ports"]
    assert (svc_port["name"], svc_port["targetPort"]) == ("http", "http")


def test_configmap_keys_are_settings_the_services_read(rendered) -> None:
    """pydantic-settings ignores unknown variables, so a typo would silently do nothing."""
    for service in (*GRPC_SERVICES, "gateway"):
        settings_cls = _settings_class(service)
        prefix = f"{service.upper()}_"
        for key in config(rendered, service):
            if key in PLATFORM_VARIABLES:
                continue
            assert key.startswith(prefix), key
            assert key.removeprefix(prefix).lower() in settings_cls.model_fields, key
        env = {**config(rendered, service), "DATABASE_URL": "postgresql://u:p@db:5432/kefu",
               "GATEWAY_JWT_SECRET": "x" * 40}
        settings_cls.model_validate({})  # defaults are valid
        old = dict(os.environ)
        try:
            os.environ.update(env)
            settings = settings_cls()  # every configured value passes validation
        finally:
            os.environ.clear()
            os.environ.update(old)
        assert settings.env == "prod"


def test_termination_grace_exceeds_prestop_plus_shutdown_grace(rendered) -> None:
    for service, deployment, container in deployments(rendered):
        pod = deployment["spec"]["template"]["spec"]
        grace = float(
            config(rendered, service).get(
                f"{service.upper()}_SHUTDOWN_GRACE_SECONDS",
                _settings_class(service).model_fields["shutdown_grace_seconds"].default,
            )
        )
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > pre_stop + grace, service


def test_every_pod_runs_unprivileged_on_a_read_only_root_with_resources(rendered) -> None:
    for name, pod in pod_specs(rendered):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["serviceAccountName"] in by_kind(rendered, "ServiceAccount"), name
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name


def test_services_read_database_url_from_the_cloudnativepg_app_secret(rendered) -> None:
    (cluster,) = by_kind(rendered, "Cluster").values()
    app_secret = f"{cluster['metadata']['name']}-app"
    for name, pod in pod_specs(rendered):
        for container in pod["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            if container["args"][0] == "gateway":
                assert "DATABASE_URL" not in env  # the gateway holds no database
                continue
            ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (app_secret, "uri"), name


def test_migration_job_migrates_every_grpc_service(rendered) -> None:
    job = by_kind(rendered, "Job")["kefu-migrate"]
    args = [c["args"] for c in job["spec"]["template"]["spec"]["containers"]]
    assert sorted(args) == sorted([[s, "migrate"] for s in GRPC_SERVICES])


def test_selectors_and_network_policies_select_real_pods(rendered) -> None:
    pods = {name: pod_labels for name, pod_labels in (
        (o["metadata"]["name"], o["spec"]["template"]["metadata"]["labels"])
        for o in rendered if o["kind"] in ("Deployment", "Job")
    )}
    pods["kefu-db"] = {"cnpg.io/cluster": "kefu-db"}  # labels CloudNativePG puts on instances

    def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
        ok = all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
        for expr in selector.get("matchExpressions", []):
            assert expr["operator"] == "In"
            ok = ok and labels.get(expr["key"]) in expr["values"]
        return ok

    for svc in by_kind(rendered, "Service").values():
        assert any(selects({"matchLabels": svc["spec"]["selector"]}, p) for p in pods.values())
    for policy in by_kind(rendered, "NetworkPolicy").values():
        assert any(selects(policy["spec"]["podSelector"], p) for p in pods.values())
        for rule in policy["spec"]["ingress"]:
            for peer in rule.get("from", []):
                if "podSelector" in peer:
                    assert any(selects(peer["podSelector"], p) for p in pods.values()), peer
    for pdb in by_kind(rendered, "PodDisruptionBudget").values():
        assert any(selects(pdb["spec"]["selector"], p) for p in pods.values())


def test_prod_overlay_scales_out_and_protects_every_service() -> None:
    objects = render(K8S / "overlays" / "prod")
    assert by_kind(objects, "Cluster")["kefu-db"]["spec"]["instances"] == 3
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == {"kefu-gateway", "kefu-scoring"}
    workloads = by_kind(objects, "Deployment")
    for hpa in hpas.values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in workloads
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert set(by_kind(objects, "PodDisruptionBudget")) == set(workloads)
    for name, deployment in workloads.items():
        assert deployment["spec"]["replicas"] >= 2, name
        assert deployment["metadata"]["namespace"] == "kefu"
    images = {c["image"] for _, pod in pod_specs(objects) for c in pod["containers"]}
    assert images == {"registry.example.com/kefu/kefu:0.1.0"}


def test_image_entrypoint_starts_each_service_cli() -> None:
    """Every container's args (the same in every overlay) name a real service and a command
    of its CLI, run through the image's entrypoint script."""
    entrypoint = PROJECT_ROOT / "deploy" / "docker" / "entrypoint.sh"
    env = {**os.environ, "KEFU_PYTHON": sys.executable}
    wanted = {
        tuple(c["args"]) for _, pod in pod_specs(render(K8S / "base")) for c in pod["containers"]
    }
    helps = {
        service: subprocess.Popen(
            ["sh", str(entrypoint), service, "--help"], env=env, stdout=subprocess.PIPE, text=True
        )
        for service in {service for service, _ in wanted}
    }
    for service, proc in helps.items():
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, service
        for command in {c for s, c in wanted if s == service}:
            assert re.search(rf"\b{command}\b", out), (service, command)
    assert {s for s, _ in wanted} == {*GRPC_SERVICES, "gateway"}
    refused = subprocess.run(["sh", str(entrypoint), "billing"], env=env, capture_output=True)
    assert refused.returncode == 64


def test_dockerfile_builds_with_the_pinned_tools_and_runs_as_non_root() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    (uv_version,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, re.M)
    assert f"uv=={uv_version}" in dockerfile
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2  # multi-stage
    (user,) = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert not user.startswith(("0", "root"))
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (PROJECT_ROOT / path).exists(), path
    entry = json.loads(re.findall(r"^ENTRYPOINT (.+)$", dockerfile, re.M)[0])
    assert entry == ["/usr/local/bin/kefu"]
    assert "deploy/docker/entrypoint.sh /usr/local/bin/kefu" in dockerfile
    cmd = json.loads(re.findall(r"^CMD (.+)$", dockerfile, re.M)[0])
    assert cmd[0] in (*GRPC_SERVICES, "gateway")


def test_network_policies_allow_every_call_a_configmap_address_makes() -> None:
    """Each `<SVC>_<TARGET>_ADDR: kefu-<target>:port` in a ConfigMap is a call the caller makes;
    the target's NetworkPolicy must admit the caller's pods on the grpc port."""
    rendered = render(K8S / "base")
    policies = by_kind(rendered, "NetworkPolicy")
    calls = [
        (cm["metadata"]["name"], value.split(":")[0])
        for cm in by_kind(rendered, "ConfigMap").values()
        for key, value in cm["data"].items() if key.endswith("_ADDR")
    ]
    assert ("kefu-scoring", "kefu-escalation") in calls  # the risk-signal relay
    for caller, target in calls:
        admitted = {
            peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
            for rule in policies[target]["spec"]["ingress"]
            for peer in rule.get("from", []) if "podSelector" in peer
        }
        assert caller in admitted, f"{target}'s NetworkPolicy blocks {caller}"
