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
PLATFORM_VARIABLES = {"KEFU_ENV", "KEFU_LOG_FORMAT", "KEFU_LOG_LEVEL", "DATABASE_URL", "DATABASE_DIRECT_URL"}


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


# Custom resources have no bundled schema: each kind we use has a hand-written subset here.
CRD_SCHEMAS = {
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster-v1.json",
    ("postgresql.cnpg.io/v1", "Pooler"): "cnpg-pooler-v1.json",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "cnpg-scheduledbackup-v1.json",
    ("barmancloud.cnpg.io/v1", "ObjectStore"): "barmancloud-objectstore-v1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring-podmonitor-v1.json",
}


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    return json.loads((K8S / "schemas" / CRD_SCHEMAS[(api_version, kind)]).read_text())


def test_every_object_validates_against_the_kubernetes_and_cloudnativepg_schemas(rendered) -> None:
    kinds = set()
    for obj in rendered:
        kinds.add(obj["kind"])
        if "." in obj["apiVersion"].split("/")[0] and not obj["apiVersion"].startswith(
            ("apps/", "batch/", "networking.k8s.io/", "policy/", "autoscaling/")
        ):
            jsonschema.validate(obj, crd_schema(obj["apiVersion"], obj["kind"]))
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Cluster", "Pooler", "Job",
            "Ingress", "NetworkPolicy"} <= kinds


def test_schema_validation_rejects_a_misspelt_field() -> None:
    """The validation is strict: an unknown field fails, for built-in kinds and the CRD."""
    objects = render(K8S / "base")
    deployment = by_kind(objects, "Deployment")["kefu-ticketing"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grcp"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    cluster = by_kind(objects, "Cluster")["kefu-db"]
    cluster["spec"]["instance"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster, crd_schema("postgresql.cnpg.io/v1", "Cluster"))
    pooler = by_kind(objects, "Pooler")["kefu-db-pooler"]
    pooler["spec"]["pgbouncer"]["poolmode"] = "transaction"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(pooler, crd_schema("postgresql.cnpg.io/v1", "Pooler"))


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


def _secret_value(objects: list[dict[str, Any]], name: str, key: str) -> str:
    """What the cluster would hold in Secret `name`: those CloudNativePG writes for the Cluster
    (`<cluster>-app`), and those deploy/k8s/README.md tells the operator to create. A reference
    to any other Secret or key fails: the pod would not start."""
    (cluster,) = by_kind(objects, "Cluster").values()
    cluster_name = cluster["metadata"]["name"]
    owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
    database = cluster["spec"]["bootstrap"]["initdb"]["database"]
    known = {
        (f"{cluster_name}-app", "username"): owner,
        (f"{cluster_name}-app", "password"): "s3cretAlnumPassw0rd",
        (f"{cluster_name}-app", "uri"):
            f"postgresql://{owner}:s3cretAlnumPassw0rd@{cluster_name}-rw:5432/{database}",
        ("kefu-gateway", "jwt-secret"): "k" * 64,
    }
    assert (name, key) in known, f"Secret {name}/{key} is neither CloudNativePG's nor documented"
    return known[(name, key)]


def rendered_env(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The environment Kubernetes gives the container: its ConfigMaps, then `env` in order, with
    Secret values filled in and `$(VAR)` references expanded as the kubelet does."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config(objects, source["configMapRef"]["name"].removeprefix("kefu-")))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"]
            )
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = _secret_value(objects, ref["name"], ref["key"])
    return env


def settings_from_env(service: str, env: dict[str, str]) -> Any:
    """The service's settings built from exactly `env` (nothing of this machine's own)."""
    old = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return _settings_class(service)()
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_every_container_starts_its_settings_from_the_rendered_env(rendered) -> None:
    """What each container gets from its ConfigMaps, Secrets and env is what its settings need to
    start in prod (a missing DATABASE_URL or secret fails here, as it would in the cluster)."""
    seen = set()
    for name, pod in pod_specs(rendered):
        for container in pod["containers"]:
            service = container["args"][0]
            settings = settings_from_env(service, rendered_env(rendered, container))
            assert settings.env == "prod", (name, service)
            url = settings.database_url.get_secret_value() if settings.database_url else ""
            assert url and "$(" not in url, (name, service)
            seen.add((name, service))
    assert {("kefu-migrate", s) for s in (*GRPC_SERVICES, "gateway")} <= seen
    assert {(f"kefu-{s}", s) for s in (*GRPC_SERVICES, "gateway")} <= seen


def test_services_reach_postgresql_through_the_pooler_and_directly_for_sessions(rendered) -> None:
    (pooler,) = by_kind(rendered, "Pooler").values()
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"
    params = pooler["spec"]["pgbouncer"]["parameters"]
    assert "search_path" in params["track_extra_parameters"]  # set per service at connect
    assert int(params["max_prepared_statements"]) > 0  # asyncpg's protocol-level statements
    for service, _, container in deployments(rendered):
        env = rendered_env(rendered, container)
        assert f"@{pooler['metadata']['name']}:5432/" in env["DATABASE_URL"], service
        assert "-rw:5432/" in env["DATABASE_DIRECT_URL"], service
    for container in by_kind(rendered, "Job")["kefu-migrate"]["spec"]["template"]["spec"]["containers"]:
        assert "-rw:5432/" in rendered_env(rendered, container)["DATABASE_URL"]  # session locks


def test_migration_job_migrates_every_service_including_the_gateway(rendered) -> None:
    job = by_kind(rendered, "Job")["kefu-migrate"]
    args = [c["args"] for c in job["spec"]["template"]["spec"]["containers"]]
    assert sorted(args) == sorted([[s, "migrate"] for s in (*GRPC_SERVICES, "gateway")])


# Connections a replica opens to the primary itself, besides its pool through the Pooler
# (kefu_common.db.Database.direct_engine and PgListener): ticketing's event-feed LISTEN,
# escalation's timer LISTEN, the gateway's webhook fan-out lock; scoring none.
DIRECT_CONNECTIONS_PER_REPLICA = {"ticketing": 1, "escalation": 1, "scoring": 0, "gateway": 1}
# superuser_reserved_connections (3) plus CloudNativePG's instance manager and exporter.
RESERVED_CONNECTIONS = 13


def _max_replicas(objects: list[dict[str, Any]], deployment: dict[str, Any]) -> int:
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind(objects, "HorizontalPodAutoscaler").values()}
    hpa = hpas.get(deployment["metadata"]["name"])
    return int(hpa["spec"]["maxReplicas"]) if hpa else int(deployment["spec"].get("replicas", 1))


def test_connection_budget_fits_max_connections_at_every_hpa_maximum(rendered) -> None:
    (cluster,) = by_kind(rendered, "Cluster").values()
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    (pooler,) = by_kind(rendered, "Pooler").values()
    params = pooler["spec"]["pgbouncer"]["parameters"]
    clients = direct = 0
    for service, deployment, container in deployments(rendered):
        settings = settings_from_env(service, rendered_env(rendered, container))
        replicas = _max_replicas(rendered, deployment)
        clients += replicas * 2 * settings.db_pool_size  # pool_size + the same overflow
        direct += replicas * DIRECT_CONNECTIONS_PER_REPLICA[service]
    migrate = len(by_kind(rendered, "Job")["kefu-migrate"]["spec"]["template"]["spec"]["containers"])
    server = int(pooler["spec"]["instances"]) * int(params["max_db_connections"])
    assert int(params["default_pool_size"]) + int(params["reserve_pool_size"]) <= int(
        params["max_db_connections"]
    )
    # Every client connection fits on one PgBouncer instance (Service balancing is not even).
    assert clients <= int(params["max_client_conn"]), clients
    budget = server + direct + migrate + RESERVED_CONNECTIONS
    assert budget <= max_connections, f"{budget} connections needed, max_connections {max_connections}"


def test_app_deployments_spread_over_nodes_and_zones(rendered) -> None:
    for service, deployment, _ in deployments(rendered):
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        for constraint in spread:
            assert constraint["labelSelector"]["matchLabels"] == {
                "app.kubernetes.io/name": f"kefu-{service}"
            }


def test_postgresql_major_is_pinned(rendered) -> None:
    (cluster,) = by_kind(rendered, "Cluster").values()
    image = cluster["spec"]["imageName"]
    assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:(\d+)(\.\d+)?-[a-z]+-[a-z]+", image), image


def test_prod_archives_wal_and_backs_up_nightly_to_the_object_store() -> None:
    objects = render(K8S / "overlays" / "prod")
    cluster = by_kind(objects, "Cluster")["kefu-db"]
    (plugin,) = cluster["spec"]["plugins"]
    assert plugin["isWALArchiver"] is True
    store = by_kind(objects, "ObjectStore")[plugin["parameters"]["barmanObjectName"]]
    assert store["spec"]["retentionPolicy"]
    (backup,) = by_kind(objects, "ScheduledBackup").values()
    assert backup["spec"]["cluster"]["name"] == "kefu-db"
    assert (backup["spec"]["method"], backup["spec"]["pluginConfiguration"]["name"]) == (
        "plugin", plugin["name"]
    )
    assert int(by_kind(objects, "Pooler")["kefu-db-pooler"]["spec"]["instances"]) >= 2
    monitored = [m["spec"]["selector"]["matchLabels"] for m in by_kind(objects, "PodMonitor").values()]
    assert {"cnpg.io/cluster": "kefu-db", "cnpg.io/podRole": "instance"} in monitored
    assert {"cnpg.io/poolerName": "kefu-db-pooler"} in monitored


def test_selectors_and_network_policies_select_real_pods(rendered) -> None:
    pods = {name: pod_labels for name, pod_labels in (
        (o["metadata"]["name"], o["spec"]["template"]["metadata"]["labels"])
        for o in rendered if o["kind"] in ("Deployment", "Job")
    )}
    # Labels CloudNativePG puts on its instances and on its PgBouncer pods.
    pods["kefu-db"] = {"cnpg.io/cluster": "kefu-db", "cnpg.io/podRole": "instance"}
    pods["kefu-db-pooler"] = {"cnpg.io/poolerName": "kefu-db-pooler"}

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
    for monitor in by_kind(rendered, "PodMonitor").values():
        assert any(selects(monitor["spec"]["selector"], p) for p in pods.values())


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
        out, _ = proc.communicate(timeout=300)  # a loaded 2-core machine
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
