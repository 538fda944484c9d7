"""Offline checks of docker/ and k8s/: schemas, linters, and the contract between the files.

Run everything, tools installed, with `scripts/validate-deploy`. Plain `pytest Tests/deploy` works
too; a check whose tool is missing is then skipped, unless INGEST_DEPLOY_REQUIRE_TOOLS=1 (set by
scripts/validate-deploy), which turns the skip into a failure.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
K8S = REPO / "k8s"
DOCKER = REPO / "docker"

# The Kubernetes version of the node image pinned in k8s/kind-config.yaml (kind v0.33.0's default).
K8S_VERSION = "1.37.0"
NS = "stepflow"
SECRET = "stepflow-secrets"
SECRET_KEYS = {"openai-api-key", "opensearch-username", "opensearch-password"}
# Embedding dimensions of the models the init Job may be written for.
MODEL_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
# What the worker needs set in k8s; every other variable has a usable default.
WORKER_REQUIRED_ENV = {
    "POD_NAME", "SERVER_HOST", "SERVER_PORT", "DOCLING_SERVE_URL", "OPENAI_API_KEY", "EMBEDDING_MODEL",
    "OPENSEARCH_HOST", "OPENSEARCH_PORT", "OPENSEARCH_USERNAME", "OPENSEARCH_PASSWORD", "OPENSEARCH_INDEX",
    "INGEST_SHUTDOWN_GRACE_SECONDS", "INGEST_EXECUTE_TIMEOUT_SECONDS",
    "POD_NAMESPACE", "POD_IP", "OTEL_EXPORTER_OTLP_ENDPOINT",
}
REQUIRE_TOOLS = os.environ.get("INGEST_DEPLOY_REQUIRE_TOOLS") == "1"
VENV = Path(os.environ.get("INGEST_DEPLOY_VENV", Path.home() / ".cache/ingest-e2e/deploy-venv"))
STEPFLOW_VENV = Path(os.environ.get("INGEST_STEPFLOW_VENV", Path.home() / ".cache/ingest-e2e/stepflow-venv"))


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

# The Stepflow 0.12+ layout (gRPC pull workers, no balancer) replaces the server and the workers of
# the 0.9 layout below; test_manifests_grpc.py checks it with the shared parts.
GRPC_LAYOUT = K8S / "stepflow-grpc"
HTTP_ONLY = (K8S / "stepflow" / "server", K8S / "stepflow" / "loadbalancer", K8S / "stepflow" / "ingest-worker")


def manifest_files(layout: str = "http") -> list[Path]:
    """The manifests one layout applies: `http` (Stepflow 0.9-0.11, the default) or `grpc` (0.12+)."""
    files = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kind-config.yaml")
    if layout == "http":
        return [p for p in files if GRPC_LAYOUT not in p.parents]
    return [p for p in files if not any(d in p.parents for d in HTTP_ONLY)]


def all_manifest_files() -> list[Path]:
    return sorted(set(manifest_files("http")) | set(manifest_files("grpc")))


def load_resources(layout: str = "http") -> list[dict]:
    out = []
    for path in manifest_files(layout):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["__file__"] = str(path.relative_to(REPO))
                out.append(doc)
    return out


RESOURCES = load_resources()


def find(kind: str, name: str, namespace: str = NS) -> dict:
    hits = [r for r in RESOURCES if r["kind"] == kind and r["metadata"]["name"] == name
            and r["metadata"].get("namespace", namespace) == namespace]
    assert len(hits) == 1, f"expected one {kind}/{name} in {namespace}, found {len(hits)}"
    return hits[0]


def services(namespace: str | None = None) -> list[dict]:
    return [r for r in RESOURCES if r["kind"] == "Service"
            and (namespace is None or r["metadata"]["namespace"] == namespace)]


def workloads() -> list[dict]:
    return [r for r in RESOURCES if r["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def service_by_dns(host: str) -> dict:
    """`name.namespace.svc.cluster.local` (or `name.namespace`, or `name` in stepflow) -> Service."""
    parts = host.split(".")
    name, namespace = parts[0], (parts[1] if len(parts) > 1 else NS)
    return find("Service", name, namespace)


def service_port(svc: dict, port: int) -> dict:
    hits = [p for p in svc["spec"]["ports"] if p["port"] == port]
    assert hits, f"Service {svc['metadata']['name']} has no port {port}"
    return hits[0]


def container(workload: dict, name: str | None = None) -> dict:
    cs = workload["spec"]["template"]["spec"]["containers"]
    return cs[0] if name is None else next(c for c in cs if c["name"] == name)


def env_of(c: dict) -> dict[str, dict]:
    names = [e["name"] for e in c.get("env", [])]
    assert len(names) == len(set(names)), f"duplicate env in {c['name']}: {names}"
    return {e["name"]: e for e in c.get("env", [])}


def read_env_sections() -> dict[str, dict[str, str]]:
    """worker_env.txt as {section: {NAME: default}}."""
    sections: dict[str, dict[str, str]] = {}
    section = None
    for line in (HERE / "worker_env.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line
            sections.setdefault(section, {})
            continue
        name, default = (line.split() + ["-"])[:2]
        sections[section][name] = default
    return sections


def read_env_contract() -> tuple[dict[str, str], set[str]]:
    sections = read_env_sections()
    return sections["[worker]"], set(sections["[platform]"])


WORKER_ENV, PLATFORM_ENV = read_env_contract()
# Read only by `ingest serve-embeddings`; it also reads some [worker] names (SERVER_*, EMBEDDING_*).
EMBEDDINGS_SERVER_ENV = read_env_sections()["[embeddings-server]"]
WORKER = find("Deployment", "ingest-worker")
WORKER_C = container(WORKER, "worker")
WORKER_ENV_SET = env_of(WORKER_C)


def worker_setting(name: str) -> str:
    e = WORKER_ENV_SET.get(name)
    return e["value"] if e and "value" in e else WORKER_ENV[name]


def container_port(c: dict, port) -> int:
    """A probe's or Service's port (name or number) -> the container port number."""
    if isinstance(port, int):
        assert any(p["containerPort"] == port for p in c["ports"]), f"{c['name']} has no port {port}"
        return port
    hits = [p["containerPort"] for p in c["ports"] if p.get("name") == port]
    assert hits, f"{c['name']} has no port named {port}"
    return hits[0]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def stepflow_config(text: str) -> dict:
    cfg = yaml.safe_load(text)
    assert set(cfg) >= {"plugins", "routes"}, cfg
    return cfg


def langflow_plugin(cfg: dict) -> dict:
    rules = cfg["routes"]["/langflow/{*component}"]
    assert len(rules) == 1, rules
    plugin = cfg["plugins"][rules[0]["plugin"]]
    assert plugin["type"] == "stepflow" and plugin.get("transport") == "http", plugin
    return plugin


def normalize_model(name: str) -> str:
    """The vector field rule of shared/spec/opensearch-schema.md section 4."""
    s = name.lower()
    for ch in "-:/.":
        s = s.replace(ch, "_")
    s = "".join(ch if ch.isalnum() else "_" for ch in s)
    return re.sub("_+", "_", s).strip("_")


def tool(name: str) -> str | None:
    for candidate in (VENV / "bin" / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None


def need(name: str) -> str:
    path = tool(name)
    if path is None:
        message = f"{name} not installed: run scripts/validate-deploy"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, **kw)


# ---------------------------------------------------------------------------------------------
# Linters and schemas
# ---------------------------------------------------------------------------------------------

def test_manifests_validate_against_kubernetes_schemas_strict():
    kv = need("kubernetes-validate")
    files = [str(p.relative_to(REPO)) for p in all_manifest_files()]
    r = run([kv, "--strict", "--quiet", "-k", K8S_VERSION, *files])
    assert r.returncode == 0, r.stdout + r.stderr


def test_kind_config_pins_the_validated_kubernetes_version_and_port_mappings():
    cfg = yaml.safe_load((K8S / "kind-config.yaml").read_text())
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert cfg["name"] == "stepflow"
    (node,) = cfg["nodes"]
    assert node["image"].startswith(f"kindest/node:v{K8S_VERSION}@sha256:"), node["image"]
    mappings = {m["hostPort"]: m["containerPort"] for m in node["extraPortMappings"]}
    # host port -> the NodePort Service that must own the container port
    expected = {7840: ("stepflow-server", NS), 3000: ("grafana-ui", "stepflow-o12y"),
                16686: ("jaeger-ui", "stepflow-o12y"), 9090: ("prometheus-ui", "stepflow-o12y")}
    assert set(mappings) == set(expected)
    for host_port, (svc_name, ns) in expected.items():
        svc = find("Service", svc_name, ns)
        assert svc["spec"]["type"] == "NodePort"
        node_ports = {p.get("nodePort") for p in svc["spec"]["ports"]}
        assert mappings[host_port] in node_ports, (svc_name, mappings[host_port], node_ports)


def test_yamllint():
    yl = need("yamllint")
    r = run([yl, "--strict", "-c", str(HERE / "yamllint.yaml"), "docker", "k8s"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint():
    hl = need("hadolint")
    r = run([hl, "docker/Dockerfile", "docker/stepflow-server/Dockerfile"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_shellcheck(tmp_path):
    sc = need("shellcheck")
    scripts = [K8S / "apply.sh", K8S / "teardown.sh", REPO / "scripts/validate-deploy",
               DOCKER / "opensearch-init/init-index.sh"]
    # Shell scripts carried inside ConfigMaps are checked as well.
    for r in RESOURCES:
        if r["kind"] == "ConfigMap":
            for key, text in (r.get("data") or {}).items():
                if key.endswith(".sh"):
                    p = tmp_path / f"{r['metadata']['name']}-{key}"
                    p.write_text(text)
                    scripts.append(p)
    res = run([sc, *map(str, scripts)])
    assert res.returncode == 0, res.stdout + res.stderr


def test_docker_compose_config():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client: `docker compose config` not run")
    def answers(cmd: list[str]) -> bool:
        try:
            return subprocess.run(cmd, capture_output=True, timeout=15).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    if not answers([docker, "info"]):
        pytest.skip("no Docker engine answers `docker info`: `docker compose config` not run (client only)")
    if not answers([docker, "compose", "version"]):
        pytest.skip("the docker compose plugin is missing: `docker compose config` not run")
    r = run([docker, "compose", "-f", "docker/compose.yaml", "config", "--quiet"])
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------
# Worker Deployment contract
# ---------------------------------------------------------------------------------------------

def test_worker_runs_three_replicas_and_the_hpa_keeps_at_least_three():
    assert WORKER["spec"]["replicas"] == 3
    hpa = find("HorizontalPodAutoscaler", "ingest-worker")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ingest-worker"}
    assert hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["maxReplicas"] >= 3


def test_pdb_selects_the_workers_and_allows_a_disruption():
    pdb = find("PodDisruptionBudget", "ingest-worker")
    labels = WORKER["spec"]["template"]["metadata"]["labels"]
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert 0 < pdb["spec"]["minAvailable"] < WORKER["spec"]["replicas"]


def test_headless_service_selects_the_worker_pods_and_the_balancer_discovers_it():
    svc = find("Service", "ingest-worker-headless")
    assert svc["spec"]["clusterIP"] == "None"
    assert selects(svc["spec"]["selector"], WORKER["spec"]["template"]["metadata"]["labels"])
    server_port = int(worker_setting("SERVER_PORT"))
    (port,) = svc["spec"]["ports"]
    assert container_port(WORKER_C, port["targetPort"]) == server_port
    lb = container(find("Deployment", "stepflow-load-balancer"))
    upstream = env_of(lb)["UPSTREAM_SERVICE"]["value"]
    host, _, upstream_port = upstream.rpartition(":")
    assert service_by_dns(host) is svc and int(upstream_port) == port["port"], upstream


def test_probes_hit_health_on_the_served_port():
    server_port = int(worker_setting("SERVER_PORT"))
    assert worker_setting("SERVER_HOST") == "0.0.0.0"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = WORKER_C[probe]["httpGet"]
        assert get["path"] == "/health", probe
        assert container_port(WORKER_C, get["port"]) == server_port, probe


def test_every_needed_env_var_is_set_and_every_one_set_is_read_or_documented():
    names = set(WORKER_ENV_SET)
    missing = WORKER_REQUIRED_ENV - names
    assert not missing, f"worker Deployment does not set {sorted(missing)}"
    unknown = names - set(WORKER_ENV) - PLATFORM_ENV
    assert not unknown, f"set but neither read by the worker nor documented as platform-read: {sorted(unknown)}"
    assert WORKER_REQUIRED_ENV <= set(WORKER_ENV) | PLATFORM_ENV


def test_env_sources_downward_api_and_secrets():
    field = {n: e["valueFrom"]["fieldRef"]["fieldPath"] for n, e in WORKER_ENV_SET.items()
             if "fieldRef" in e.get("valueFrom", {})}
    assert field == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "POD_IP": "status.podIP"}
    secrets = {n: e["valueFrom"]["secretKeyRef"] for n, e in WORKER_ENV_SET.items()
               if "secretKeyRef" in e.get("valueFrom", {})}
    assert set(secrets) == {"OPENAI_API_KEY", "OPENSEARCH_USERNAME", "OPENSEARCH_PASSWORD"}
    for ref in secrets.values():
        assert ref["name"] == SECRET and ref["key"] in SECRET_KEYS and ref.get("optional") is True


def test_env_addresses_point_at_services_that_exist():
    os_svc = service_by_dns(worker_setting("OPENSEARCH_HOST"))
    service_port(os_svc, int(worker_setting("OPENSEARCH_PORT")))
    for var in ("DOCLING_SERVE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        url = urlparse(worker_setting(var))
        service_port(service_by_dns(url.hostname), url.port)
    assert worker_setting("OPENSEARCH_USE_SSL") == "false"  # the cluster's OpenSearch has security off


def test_env_contract_lists_every_config_name_the_sources_read():
    """Upper-case names quoted in Sources/ with a config prefix must be in worker_env.txt."""
    prefixes = ("SERVER_", "POD_", "DOCLING_", "OPENAI_", "EMBEDDING_", "EMBEDDINGS_", "OPENSEARCH_", "INGEST_", "OTEL_")
    found = set()
    for swift in (REPO / "Sources").rglob("*.swift"):
        for name in re.findall(r'"([A-Z][A-Z0-9_]{2,})"', swift.read_text(errors="replace")):
            if name.startswith(prefixes):
                found.add(name)
    missing = found - set(WORKER_ENV) - PLATFORM_ENV - set(EMBEDDINGS_SERVER_ENV)
    assert not missing, f"Sources/ reads {sorted(missing)}: add them to Tests/deploy/worker_env.txt"


def test_graceful_termination_matches_the_worker_shutdown():
    spec = WORKER["spec"]["template"]["spec"]
    command = WORKER_C["lifecycle"]["preStop"]["exec"]["command"]
    assert Path(command[0]).name == "sleep", command
    pause = int(command[1])
    grace = int(worker_setting("INGEST_SHUTDOWN_GRACE_SECONDS"))
    budget = int(worker_setting("INGEST_EXECUTE_TIMEOUT_SECONDS"))
    assert 0 < pause <= 10
    assert spec["terminationGracePeriodSeconds"] == pause + grace + budget
    assert int(worker_setting("DOCLING_TIMEOUT_SECONDS")) <= budget


def test_resources_are_sized_from_the_footprint_targets():
    mib = {"Mi": 1, "Gi": 1024}
    res = WORKER_C["resources"]

    def to_mib(q: str) -> int:
        return int(q[:-2]) * mib[q[-2:]]

    assert to_mib(res["requests"]["memory"]) >= 30  # idle RSS target ~30 MB
    assert to_mib(res["limits"]["memory"]) >= 150 * 1.5  # peak target ~150 MB, with margin
    assert res["requests"]["cpu"] and res["limits"]["cpu"]


def test_security_context_non_root_read_only_no_escalation():
    pod = WORKER["spec"]["template"]["spec"]["securityContext"]
    sc = WORKER_C["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    user = re.search(r"^USER\s+(\d+)", (DOCKER / "Dockerfile").read_text(), re.M)
    assert user and int(user.group(1)) == pod["runAsUser"] != 0
    mounts = {m["mountPath"] for m in WORKER_C["volumeMounts"]}
    assert "/tmp" in mounts  # writable scratch on a read-only root


def test_network_policy_lets_only_the_balancer_and_prometheus_reach_the_worker_port():
    np = find("NetworkPolicy", "ingest-worker")
    assert selects(np["spec"]["podSelector"]["matchLabels"], WORKER["spec"]["template"]["metadata"]["labels"])
    assert np["spec"]["policyTypes"] == ["Ingress"]
    server_port = int(worker_setting("SERVER_PORT"))
    lb_labels = find("Deployment", "stepflow-load-balancer")["spec"]["template"]["metadata"]["labels"]
    prom = find("Deployment", "prometheus", "stepflow-o12y")["spec"]["template"]["metadata"]["labels"]
    peers = []
    for rule in np["spec"]["ingress"]:
        assert rule.get("from"), "an ingress rule without `from` admits everyone"
        assert [p["port"] for p in rule["ports"]] == [server_port]
        peers += rule["from"]
    assert len(peers) == 2
    lb_peer = next(p for p in peers if "namespaceSelector" not in p)
    assert selects(lb_peer["podSelector"]["matchLabels"], lb_labels)
    prom_peer = next(p for p in peers if "namespaceSelector" in p)
    assert prom_peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "stepflow-o12y"}
    assert selects(prom_peer["podSelector"]["matchLabels"], prom)


def test_prometheus_scrapes_the_workers_metrics():
    ann = WORKER["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/path"] == "/metrics"
    assert int(ann["prometheus.io/port"]) == int(worker_setting("SERVER_PORT"))
    cfg = yaml.safe_load(find("ConfigMap", "prometheus-config", "stepflow-o12y")["data"]["prometheus.yml"])
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "ingest-worker")
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert any(r["source_labels"] == ["__meta_kubernetes_pod_label_app"]
               and r["regex"] == WORKER["spec"]["template"]["metadata"]["labels"]["app"] for r in keep)


def test_dashboard_queries_only_metrics_the_worker_exposes():
    declared = {}
    for line in (HERE / "worker_metrics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, labels = line.split()
            declared[name] = (kind, set() if labels == "-" else set(labels.split(",")))
    series = {}
    for name, (kind, labels) in declared.items():
        suffixes = ["_bucket", "_sum", "_count"] if kind == "histogram" else [""]
        for s in suffixes:
            series[name + s] = labels | ({"le"} if s == "_bucket" else set())
    cm = find("ConfigMap", "grafana-dashboard-ingest", "stepflow-o12y")
    dash = json.loads(cm["data"]["ingest-workers.json"])
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"] if p["datasource"]["uid"] == "prometheus"]
    used = {m for e in exprs for m in re.findall(r"\b(ingest_[a-z_]+)\b", e)}
    assert used and used <= set(series), sorted(used - set(series))
    for name in declared:  # documents/s, chunks/s, failures by reason, stage latencies
        assert any(name in e for e in exprs), f"dashboard shows nothing from {name}"
    generic = {"le", "pod", "job", "namespace", "instance"}
    for e in exprs:
        for group in re.findall(r"by \(([^)]*)\)", e):
            labels = {x.strip() for x in group.split(",")}
            metric_labels = set().union(*(series[m] for m in re.findall(r"\b(ingest_[a-z_]+)\b", e))) \
                if re.search(r"\bingest_", e) else set()
            assert labels <= metric_labels | generic, (e, labels)
    # every Prometheus job a query names is scraped
    cfg = yaml.safe_load(find("ConfigMap", "prometheus-config", "stepflow-o12y")["data"]["prometheus.yml"])
    jobs = {j["job_name"] for j in cfg["scrape_configs"]}
    assert {j for e in exprs for j in re.findall(r'job="([^"]+)"', e)} <= jobs


def test_metric_contract_names_what_the_sources_declare():
    declared = set()
    for swift in (REPO / "Sources").rglob("*.swift"):
        for ns, name, unit in re.findall(
                r'namespace:\s*"(\w+)",\s*metricName:\s*"(\w+)",\s*unitName:\s*"(\w*)"', swift.read_text()):
            declared.add("_".join(p for p in (ns, name, unit) if p))
        # The shorthand of IngestService (MetricNameDescriptor.ingest): namespace "ingest".
        for name, unit in re.findall(r'\.ingest\(\s*"(\w+)"(?:,\s*unit:\s*"(\w*)")?', swift.read_text()):
            declared.add("_".join(p for p in ("ingest", name, unit) if p))
    if not declared:
        pytest.skip("Sources/ declares no metric descriptors yet")
    listed = {line.split()[0] for line in (HERE / "worker_metrics.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert listed <= declared, f"worker_metrics.txt lists {sorted(listed - declared)}, not in Sources/"



# ---------------------------------------------------------------------------------------------
# Names, images and ports across files
# ---------------------------------------------------------------------------------------------

def test_every_service_selects_pods_and_targets_a_declared_port():
    for svc in services():
        ns = svc["metadata"]["namespace"]
        matches = [w for w in workloads() if w["metadata"]["namespace"] == ns
                   and selects(svc["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])]
        assert matches, f"Service {svc['metadata']['name']} selects no pods"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for w in matches:
                declared = [p for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
                assert any(target in (p.get("name"), p["containerPort"]) for p in declared), \
                    (svc["metadata"]["name"], w["metadata"]["name"], target)


def test_every_configmap_secret_and_service_account_reference_resolves():
    for w in workloads():
        ns = w["metadata"]["namespace"]
        spec = w["spec"]["template"]["spec"]
        for v in spec.get("volumes", []):
            if "configMap" in v:
                cm = find("ConfigMap", v["configMap"]["name"], ns)
                for item in v["configMap"].get("items", []):
                    assert item["key"] in cm["data"], (w["metadata"]["name"], item)
            if "persistentVolumeClaim" in v:
                find("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"], ns)
        if "serviceAccountName" in spec:
            find("ServiceAccount", spec["serviceAccountName"], ns)
        for c in spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRET and ref["key"] in SECRET_KEYS and ref.get("optional") is True, e
                    assert ns == NS, "stepflow-secrets lives in namespace stepflow"


def test_local_images_are_never_pulled_and_third_party_images_are_pinned():
    for w in workloads():
        for c in w["spec"]["template"]["spec"]["containers"]:
            image = c["image"]
            assert ":" in image.rsplit("/", 1)[-1], f"{image} has no tag"
            if image.startswith("localhost/"):
                assert c.get("imagePullPolicy") == "Never", image
            else:
                assert not image.endswith(":latest"), image


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_and_k8s_run_the_same_images():
    svcs = compose()["services"]
    k8s_images = {
        "ingest": container(WORKER, "worker")["image"],
        "stepflow-server": container(find("Deployment", "stepflow-server"))["image"],
        "opensearch": container(find("Deployment", "opensearch"))["image"],
        "docling": container(find("Deployment", "docling-serve"))["image"],
        "opensearch-init": container(find("Job", "opensearch-init-index"))["image"],
    }
    for name, image in k8s_images.items():
        assert svcs[name]["image"] == image, (name, svcs[name]["image"], image)


def test_compose_is_health_gated_and_wired_to_the_worker():
    c = compose()["services"]
    assert c["ingest"]["build"]["dockerfile"] == "docker/Dockerfile"
    assert c["ingest"]["depends_on"]["opensearch-init"]["condition"] == "service_completed_successfully"
    assert c["ingest"]["depends_on"]["docling"]["condition"] == "service_healthy"
    assert c["opensearch-init"]["depends_on"]["opensearch"]["condition"] == "service_healthy"
    assert c["stepflow-server"]["depends_on"]["ingest"]["condition"] == "service_healthy"
    for name in ("opensearch", "docling", "ingest"):
        assert "healthcheck" in c[name], name
    assert "/health" in " ".join(c["ingest"]["healthcheck"]["test"])
    env = c["ingest"]["environment"]
    assert set(env) <= set(WORKER_ENV) | PLATFORM_ENV, sorted(set(env) - set(WORKER_ENV) - PLATFORM_ENV)
    assert c["opensearch"]["environment"]["DISABLE_SECURITY_PLUGIN"] == "true"
    # the server's config reaches the worker service on the port it serves
    mount = next(v for v in c["stepflow-server"]["volumes"] if v.endswith("/app/config/stepflow-config.yml:ro"))
    cfg = stepflow_config((DOCKER / mount.split(":")[0]).read_text())
    url = urlparse(langflow_plugin(cfg)["url"])
    assert url.hostname == "ingest" and url.port == int(env["SERVER_PORT"])
    assert f"{env['SERVER_PORT']}:{env['SERVER_PORT']}" in c["ingest"]["ports"][0]


# ---------------------------------------------------------------------------------------------
# Stepflow server configuration
# ---------------------------------------------------------------------------------------------

SERVER_CM = find("ConfigMap", "stepflow-server-config")
SERVER_CONFIG_TEXT = SERVER_CM["data"]["stepflow-config.yml"]


def test_server_configmap_routes_langflow_to_the_balancer_service():
    cfg = stepflow_config(SERVER_CONFIG_TEXT)
    url = urlparse(langflow_plugin(cfg)["url"])
    assert url.scheme == "http"
    svc = service_by_dns(url.hostname)
    assert svc["metadata"]["name"] == "stepflow-load-balancer"
    port = service_port(svc, url.port)
    lb = container(find("Deployment", "stepflow-load-balancer"))
    assert selects(svc["spec"]["selector"], find("Deployment", "stepflow-load-balancer")["spec"]["template"]["metadata"]["labels"])
    assert container_port(lb, port["targetPort"]) == 8080
    builtin = cfg["routes"]["/builtin/{*component}"]
    assert cfg["plugins"][builtin[0]["plugin"]]["type"] == "builtin"


def test_server_deployment_mounts_the_config_it_is_started_with():
    dep = find("Deployment", "stepflow-server")
    c = container(dep)
    args = c["args"]
    config_path = Path(args[args.index("--config") + 1])
    mount = next(m for m in c["volumeMounts"] if Path(m["mountPath"]) == config_path.parent)
    vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert vol["configMap"]["name"] == "stepflow-server-config"
    assert config_path.name in SERVER_CM["data"]
    port = int(args[args.index("--port") + 1])
    assert container_port(c, "http") == port == 7840
    assert c["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    env = env_of(c)
    service_port(service_by_dns(urlparse(env["STEPFLOW_OTLP_ENDPOINT"]["value"]).hostname), 4317)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, body: dict | None = None, timeout: float = 10) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds}s")


def stepflow_server_bin() -> str:
    explicit = os.environ.get("STEPFLOW_SERVER_BIN")
    candidates = [Path(explicit)] if explicit else []
    candidates += sorted(STEPFLOW_VENV.glob("lib/python3*/site-packages/stepflow_orchestrator/bin/stepflow-server"))
    for c in candidates:
        if c.exists():
            return str(c)
    message = "stepflow-server 0.9.0 not installed: run scripts/validate-deploy"
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


def built_ingest() -> Path | None:
    for p in (REPO / ".build/release/ingest", REPO / ".build/debug/ingest"):
        if p.exists():
            return p
    return None


def terminate(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


FLOW = {"schema": "https://stepflow.org/schemas/v1/flow.json", "name": "deploy-check",
        "description": "one /langflow/ingest step",
        "steps": [{"id": "ingest", "component": "/langflow/ingest",
                   "input": {"source": {"$input": "source"}, "index": {"$input": "index"}}}],
        "output": {"result": {"$step": "ingest"}}}


@pytest.mark.parametrize("worker", ["standin", "ingest"])
@pytest.mark.parametrize("source", ["k8s/stepflow/server/configmap.yaml", "docker/stepflow-config.yml"])
def test_real_stepflow_server_accepts_the_config_and_routes_langflow(source, worker, tmp_path):
    """Start stepflow-server 0.9.0 with our config, its balancer (or compose worker) URL rewritten to
    a local worker, which must answer `initialize` or the server exits.

    standin: Tests/deploy/standin_worker.py; one flow step /langflow/ingest runs through the server.
    ingest:  the real worker (`ingest serve`, where a build left a binary in .build/); the server
             must start against it and list the worker's /ingest component.
    """
    sf = stepflow_server_bin()
    binary = built_ingest()
    if worker == "ingest" and binary is None:
        pytest.skip("no built ingest binary in .build/: real-worker handshake not run")
    text = SERVER_CONFIG_TEXT if source.startswith("k8s/") else (REPO / source).read_text()
    cfg = stepflow_config(text)
    worker_port, server_port = free_port(), free_port()
    original = langflow_plugin(cfg)["url"]
    assert text.count(original) == 1
    config = tmp_path / "stepflow-config.yml"
    config.write_text(text.replace(original, f"http://127.0.0.1:{worker_port}"))
    calls = tmp_path / "calls.jsonl"
    procs: list[subprocess.Popen] = []
    try:
        if worker == "standin":
            cmd = [sys.executable, str(HERE / "standin_worker.py"), str(worker_port), str(calls)]
            env = None
        else:
            cmd = [str(binary), "serve"]
            env = {**os.environ, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(worker_port),
                   "POD_NAME": "deploy-check", "INGEST_SHUTDOWN_GRACE_SECONDS": "0"}
        wlog = (tmp_path / "worker.log").open("w")
        procs.append(subprocess.Popen(cmd, env=env, stdout=wlog, stderr=subprocess.STDOUT, cwd=tmp_path))
        wait_http(f"http://127.0.0.1:{worker_port}/health", procs[-1])
        slog = (tmp_path / "server.log").open("w")
        procs.append(subprocess.Popen([sf, "--port", str(server_port), "--config", str(config), "--log-level", "warn"],
                                      stdout=slog, stderr=subprocess.STDOUT, cwd=tmp_path))
        api = f"http://127.0.0.1:{server_port}/api/v1"
        wait_http(f"{api}/health", procs[-1])
        if worker == "ingest":
            listed = {c["component"] for c in http_json(f"{api}/components")["components"]}
            assert "/ingest" in listed, sorted(listed)
            return
        stored = http_json(f"{api}/flows", {"flow": FLOW})
        assert stored["diagnostics"]["numFatal"] == 0 and stored["diagnostics"]["numError"] == 0, stored
        run_ = http_json(f"{api}/runs", {"flowId": stored["flowId"],
                                         "input": [{"source": "/data/a.pdf", "index": "documents"}]})
        assert run_["status"] == "completed", run_
        out = run_["result"]["result"]["result"]
        assert out == {"component": "/ingest", "input": {"source": "/data/a.pdf", "index": "documents"}}
        methods = [json.loads(line)["message"].get("method") for line in calls.read_text().splitlines()]
        assert methods[:2] == ["initialize", "initialized"] and "components/execute" in methods
    finally:
        terminate(procs)


# ---------------------------------------------------------------------------------------------
# OpenSearch, Docling
# ---------------------------------------------------------------------------------------------

def expected_index_body(model: str, dimension: int, provider: str | None = None) -> dict:
    """The worker's mapping; with an EMBEDDING_PROVIDER, OpenRAG's space layout (README)."""
    text_and_keyword = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    props = {"text": {"type": "text"}, "file_size": {"type": "long"}, "indexed_time": {"type": "date"},
             "embedding_model": {"type": "keyword"}, "owner_name": text_and_keyword, "headings": text_and_keyword}
    for k in ("filename", "mimetype", "owner", "source", "document_id", "generation", "owner_email", "connector_type"):
        props[k] = {"type": "keyword"}
    for k in ("chunk_index", "chunk_count", "page", "pages", "embedding_dimensions"):
        props[k] = {"type": "integer"}
    identity = model
    if provider:
        identity = f"{provider.lower()}:{model}"
        props["embedding_provider"] = props["embedding_space_id"] = {"type": "keyword"}
    props[f"chunk_embedding_{normalize_model(identity)}"] = {
        "type": "knn_vector", "dimension": dimension,
        "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2",
                   "parameters": {"m": 16, "ef_construction": 512}}}
    return {"settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
            "mappings": {"properties": props}}


OS_CM = find("ConfigMap", "opensearch-config")


def test_init_job_body_matches_the_worker_mapping_for_its_embedding_model():
    model = WORKER_ENV_SET["EMBEDDING_MODEL"]["value"]  # named explicitly, not left to the default
    provider = WORKER_ENV_SET.get("EMBEDDING_PROVIDER", {}).get("value") or None
    body = json.loads(OS_CM["data"]["documents-index.json"])
    assert body == expected_index_body(model, MODEL_DIMENSIONS[model], provider)
    job = find("Job", "opensearch-init-index")
    env = env_of(container(job))
    assert env["OPENSEARCH_INDEX"]["value"] == worker_setting("OPENSEARCH_INDEX")
    url = urlparse(env["OPENSEARCH_URL"]["value"])
    assert (url.hostname, url.port) == (worker_setting("OPENSEARCH_HOST"), int(worker_setting("OPENSEARCH_PORT")))
    assert Path(env["INDEX_BODY"]["value"]).name == "documents-index.json"


def test_init_files_in_the_configmap_are_the_compose_ones():
    for key in ("init-index.sh", "documents-index.json"):
        assert OS_CM["data"][key] == (DOCKER / "opensearch-init" / key).read_text(), key


def test_init_body_matches_ingest_schema_when_a_binary_is_built():
    binary = built_ingest()
    if binary is None:
        pytest.skip("no built ingest binary in .build/: `ingest schema` comparison not run")
    r = subprocess.run([str(binary), "schema", "--model", "text-embedding-3-small", "--dimension", "1536"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"this ingest binary has no working `schema` subcommand yet: {r.stderr.strip()[:200]}")
    assert json.loads(r.stdout) == json.loads(OS_CM["data"]["documents-index.json"])


def test_opensearch_runs_single_node_with_security_off():
    c = container(find("Deployment", "opensearch"))
    env = env_of(c)
    assert env["DISABLE_SECURITY_PLUGIN"]["value"] == "true"
    assert "discovery.type: single-node" in OS_CM["data"]["opensearch.yml"]


def test_docling_keeps_async_tasks_on_one_replica():
    dep = find("Deployment", "docling-serve")
    svc = find("Service", "docling-serve")
    assert dep["spec"]["replicas"] == 1 or svc["spec"].get("sessionAffinity") == "ClientIP"


# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------

DOCKERFILE = (DOCKER / "Dockerfile").read_text()


def stages() -> list[str]:
    return re.split(r"^(?=FROM )", DOCKERFILE, flags=re.M)[1:]


def stage(name: str) -> str:
    found = [s for s in stages() if re.match(rf"FROM \S+ AS {name}\b", s)]
    assert len(found) == 1, f"the Dockerfile needs exactly one stage named {name}"
    return found[0]


def build_command() -> str:
    m = re.search(r"(swift build -c release --static-swift-stdlib)\b", stage("build"))
    assert m, "the build stage must run `swift build -c release --static-swift-stdlib`"
    return m.group(1)


def runtime_packages() -> list[str]:
    m = re.search(r"apt-get install -y --no-install-recommends ([a-z0-9.+\- ]+)", stage("run"))
    assert m, "the run stage installs its packages with apt-get"
    return m.group(1).split()


def test_dockerfile_shape():
    build, run_ = stage("build"), stage("run")
    assert stages()[-1] is run_ or stages()[-1] == run_, "the run stage comes last (it is the image)"
    # the in-process embedder's model is baked in at a default location
    assert re.search(r"^COPY --from=model \S+ /opt/ingest/models/all-MiniLM-L6-v2$", run_, re.M)
    assert re.match(r"FROM swift:6\.\d+-\w+ AS build", build)
    assert re.match(r"FROM debian:\w+-slim AS run", run_)
    # same Debian release in both stages, so glibc matches
    assert build.split()[1].split("-")[-1] == run_.split()[1].split(":")[1].split("-")[0]
    build_command()
    assert 'ENTRYPOINT ["ingest"]' in run_ and 'CMD ["serve"]' in run_
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", run_, re.M)
    assert re.search(r"^USER [1-9]\d*", run_, re.M)
    for label in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{label}=" in run_, label
    assert f"EXPOSE {WORKER_ENV['SERVER_PORT']}" in run_
    assert {"ca-certificates", "tzdata"} <= set(runtime_packages())


def test_runtime_packages_cover_the_foundation_modules_the_sources_import():
    imports = set()
    for swift in (REPO / "Sources").rglob("*.swift"):
        imports |= set(re.findall(r"^\s*(?:@\w+\s+)*(?:\w+\s+)?import\s+(FoundationNetworking|FoundationXML)\b",
                                  swift.read_text(errors="replace"), re.M))
    need = {"FoundationNetworking": "libcurl4", "FoundationXML": "libxml2"}
    missing = {need[i] for i in imports} - set(runtime_packages())
    assert not missing, f"Sources import {sorted(imports)}: add {sorted(missing)} to the run stage"


def test_dockerignore_keeps_what_the_build_copies():
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for copied in re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE, re.M):
        assert copied not in ignored, copied
    assert ".build" in ignored and ".git" in ignored


def test_readme_documents_the_same_build_command_and_runtime_packages():
    readme = REPO / "README.md"
    text = readme.read_text() if readme.exists() else ""
    if "docker/compose.yaml" not in text:
        pytest.skip("README.md has no deployment section yet (docker/compose.yaml is not mentioned)")
    assert build_command() in text
    missing = [p for p in runtime_packages() if p not in text]
    assert not missing, f"README.md does not list runtime packages {missing}"


# ---------------------------------------------------------------------------------------------
# Embeddings server (`ingest serve-embeddings`, k8s/stepflow/ingest-embeddings): both layouts
# ---------------------------------------------------------------------------------------------

EMBEDDINGS = find("Deployment", "ingest-embeddings")
EMBEDDINGS_C = container(EMBEDDINGS, "embeddings")
EMBEDDINGS_ENV_SET = env_of(EMBEDDINGS_C)
# The [worker] names `ingest serve-embeddings` reads too.
EMBEDDINGS_SHARED_ENV = {"SERVER_HOST", "SERVER_PORT", "EMBEDDING_MODEL_PATH", "EMBEDDING_THREADS",
                         "EMBEDDING_BATCH_SIZE", "EMBEDDING_MODEL", "INGEST_LOG_LEVEL"}


def embeddings_setting(name: str) -> str:
    e = EMBEDDINGS_ENV_SET.get(name)
    return e["value"] if e and "value" in e else {**WORKER_ENV, **EMBEDDINGS_SERVER_ENV}[name]


def test_embeddings_server_runs_the_worker_image_with_its_command():
    assert EMBEDDINGS_C["image"] == WORKER_C["image"]
    assert EMBEDDINGS_C["imagePullPolicy"] == "Never"
    assert EMBEDDINGS_C["args"] == ["serve-embeddings"]
    # in both layouts: beside the HTTP workers and beside the gRPC pull workers
    assert "ingest-embeddings" in {r["metadata"]["name"] for r in load_resources("grpc") if r["kind"] == "Deployment"}
    # the model it loads is the one the Dockerfile bakes in
    assert re.search(rf"^COPY --from=model \S+ {re.escape(embeddings_setting('EMBEDDING_MODEL_PATH'))}$", stage("run"), re.M)


def test_embeddings_server_env_is_what_it_reads():
    names = set(EMBEDDINGS_ENV_SET)
    unknown = names - set(EMBEDDINGS_SERVER_ENV) - EMBEDDINGS_SHARED_ENV
    assert not unknown, f"set but not read by ingest serve-embeddings: {sorted(unknown)}"
    assert EMBEDDINGS_SHARED_ENV <= set(WORKER_ENV)
    # no secrets are needed; the threads match the CPU limit rather than the node's cores
    assert all("valueFrom" not in e for e in EMBEDDINGS_ENV_SET.values())
    cpu = EMBEDDINGS_C["resources"]["limits"]["cpu"]
    cores = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    assert int(embeddings_setting("EMBEDDING_THREADS")) <= max(1, cores)
    # every EMBEDDINGS_SERVER_* the server reads is set explicitly, with its documented default
    for name, default in EMBEDDINGS_SERVER_ENV.items():
        if default != "-":
            assert embeddings_setting(name) == default, name


def test_embeddings_server_probes_service_and_termination():
    port = int(embeddings_setting("SERVER_PORT"))
    assert embeddings_setting("SERVER_HOST") == "0.0.0.0"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = EMBEDDINGS_C[probe]["httpGet"]
        assert get["path"] == "/health", probe
        assert container_port(EMBEDDINGS_C, get["port"]) == port, probe
    svc = find("Service", "ingest-embeddings")
    assert selects(svc["spec"]["selector"], EMBEDDINGS["spec"]["template"]["metadata"]["labels"])
    assert svc["spec"].get("clusterIP") != "None", "one address for clients, balanced by the Service"
    (svc_port,) = svc["spec"]["ports"]
    assert container_port(EMBEDDINGS_C, svc_port["targetPort"]) == port
    pause = int(EMBEDDINGS_C["lifecycle"]["preStop"]["exec"]["command"][1])
    grace = int(embeddings_setting("EMBEDDINGS_SERVER_SHUTDOWN_GRACE_SECONDS"))
    budget = int(embeddings_setting("EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS"))
    assert EMBEDDINGS["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == pause + grace + budget
    ann = EMBEDDINGS["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/path"] == "/metrics" and int(ann["prometheus.io/port"]) == port
    pdb = find("PodDisruptionBudget", "ingest-embeddings")
    assert selects(pdb["spec"]["selector"]["matchLabels"], EMBEDDINGS["spec"]["template"]["metadata"]["labels"])
    assert 0 < pdb["spec"]["minAvailable"] < EMBEDDINGS["spec"]["replicas"]


def test_embeddings_server_has_the_workers_security_context():
    assert EMBEDDINGS["spec"]["template"]["spec"]["securityContext"] == WORKER["spec"]["template"]["spec"]["securityContext"]
    assert EMBEDDINGS_C["securityContext"] == WORKER_C["securityContext"]
    assert EMBEDDINGS["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_compose_runs_the_embeddings_server_from_the_worker_image():
    c = compose()["services"]
    e = c["embeddings"]
    assert e["image"] == c["ingest"]["image"] and e["command"] == ["serve-embeddings"]
    assert "/health" in " ".join(e["healthcheck"]["test"])
    assert set(e["environment"]) <= EMBEDDINGS_SHARED_ENV | set(EMBEDDINGS_SERVER_ENV)
    assert e["ports"][0].endswith(":" + e["environment"]["SERVER_PORT"])
