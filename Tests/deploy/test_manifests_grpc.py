"""The Stepflow 0.12+ layout (k8s/stepflow-grpc/, docker/compose.grpc.yaml): three pull workers
that dial the 0.13.0 server over gRPC, no Service and no balancer in front of them, probes that
tell liveness from readiness, and the real stepflow-server 0.13.0 accepting the configuration.
The shared parts (namespaces, OpenSearch, Docling, observability) are the 0.9 layout's files and
are checked there (test_manifests.py); the helpers come from there too.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

import test_manifests as base
from test_manifests import (DOCKER, HERE, K8S, NS, PLATFORM_ENV, REPO, REQUIRE_TOOLS, WORKER_ENV, container,
                            container_port, env_of, free_port, selects, service_port, terminate, wait_http)

RESOURCES = base.load_resources("grpc")
STEPFLOW13_VENV = Path(os.environ.get("INGEST_STEPFLOW13_VENV", Path.home() / ".cache/ingest-e2e/stepflow13-venv"))


def find(kind: str, name: str, namespace: str = NS) -> dict:
    hits = [r for r in RESOURCES if r["kind"] == kind and r["metadata"]["name"] == name
            and r["metadata"].get("namespace", namespace) == namespace]
    assert len(hits) == 1, f"expected one {kind}/{name} in {namespace}, found {len(hits)}"
    return hits[0]


def service_by_dns(host: str) -> dict:
    parts = host.split(".")
    return find("Service", parts[0], parts[1] if len(parts) > 1 else NS)


WORKER = find("Deployment", "ingest-worker")
WORKER_C = container(WORKER, "worker")
ENV = env_of(WORKER_C)
LABELS = WORKER["spec"]["template"]["metadata"]["labels"]
SERVER = find("Deployment", "stepflow-server")
SERVER_CM = find("ConfigMap", "stepflow-server-config")
SERVER_CONFIG_TEXT = SERVER_CM["data"]["stepflow-config.yml"]


def setting(name: str) -> str:
    e = ENV.get(name)
    return e["value"] if e and "value" in e else WORKER_ENV[name]


def config_of(text: str) -> dict:
    return yaml.safe_load(text)


def ingest_queue(cfg: dict) -> str:
    """The queue `/langflow/ingest` reaches: the first /langflow rule that allows `ingest`."""
    for rule in cfg["routes"]["/langflow"]:
        allow = rule.get("componentAllow")
        if allow is None or "ingest" in allow:
            plugin = cfg["plugins"][rule["plugin"]]
            assert plugin["type"] == "grpc", plugin
            return plugin["queueName"]
    raise AssertionError("no /langflow rule reaches the ingest component")


def test_the_layout_has_no_balancer_and_no_service_in_front_of_the_workers():
    kinds = {(r["kind"], r["metadata"]["name"]) for r in RESOURCES}
    assert ("Deployment", "stepflow-load-balancer") not in kinds
    assert ("Service", "ingest-worker-headless") not in kinds
    for svc in (r for r in RESOURCES if r["kind"] == "Service"):
        assert not selects(svc["spec"].get("selector") or {"-": "-"}, LABELS), svc["metadata"]["name"]


def test_three_replicas_hpa_and_pdb():
    assert WORKER["spec"]["replicas"] == 3
    hpa = find("HorizontalPodAutoscaler", "ingest-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingest-worker" and hpa["spec"]["minReplicas"] == 3
    pdb = find("PodDisruptionBudget", "ingest-worker")
    assert selects(pdb["spec"]["selector"]["matchLabels"], LABELS)
    assert 0 < pdb["spec"]["minAvailable"] < WORKER["spec"]["replicas"]


def test_the_workers_pull_from_the_server_on_its_grpc_port_and_queue():
    assert WORKER_C["args"] == ["serve"]
    assert setting("STEPFLOW_TRANSPORT") == "grpc"
    url = urlparse(setting("STEPFLOW_TASKS_URL"))
    assert url.scheme == "http"
    svc = service_by_dns(url.hostname)
    assert selects(svc["spec"]["selector"], SERVER["spec"]["template"]["metadata"]["labels"])
    port = service_port(svc, url.port)
    args = container(SERVER)["args"]
    assert container_port(container(SERVER), port["targetPort"]) == int(args[args.index("--port") + 1])
    assert setting("STEPFLOW_QUEUE_NAME") == ingest_queue(config_of(SERVER_CONFIG_TEXT))
    assert 1 <= int(setting("STEPFLOW_MAX_CONCURRENT")) <= 16


def test_liveness_is_health_and_readiness_is_the_pull_stream():
    served = int(setting("SERVER_PORT"))
    assert WORKER_C["livenessProbe"]["httpGet"]["path"] == "/health"
    assert WORKER_C["startupProbe"]["httpGet"]["path"] == "/health"
    assert WORKER_C["readinessProbe"]["httpGet"]["path"] == "/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container_port(WORKER_C, WORKER_C[probe]["httpGet"]["port"]) == served


def test_env_is_read_by_the_worker_or_the_platform():
    unknown = set(ENV) - set(WORKER_ENV) - PLATFORM_ENV
    assert not unknown, sorted(unknown)
    for name in ("POD_NAME", "DOCLING_SERVE_URL", "OPENSEARCH_HOST", "OPENSEARCH_INDEX", "EMBEDDING_MODEL",
                 "INGEST_EXECUTE_TIMEOUT_SECONDS", "STEPFLOW_TASKS_URL", "STEPFLOW_QUEUE_NAME"):
        assert name in ENV, name
    for var in ("DOCLING_SERVE_URL",):
        url = urlparse(setting(var))
        service_port(service_by_dns(url.hostname), url.port)


def test_termination_lets_in_flight_tasks_finish_without_a_balancer_pause():
    spec = WORKER["spec"]["template"]["spec"]
    assert "lifecycle" not in WORKER_C, "no balancer has to drop the pod: no preStop pause"
    budget = int(setting("INGEST_EXECUTE_TIMEOUT_SECONDS"))
    assert budget < spec["terminationGracePeriodSeconds"] <= budget + 60
    assert int(setting("DOCLING_TIMEOUT_SECONDS")) <= budget


def test_same_security_context_as_the_http_layout():
    pod = WORKER["spec"]["template"]["spec"]["securityContext"]
    sc = WORKER_C["securityContext"]
    assert pod == base.WORKER["spec"]["template"]["spec"]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert WORKER["spec"]["template"]["metadata"]["annotations"] == base.WORKER["spec"]["template"]["metadata"]["annotations"]


def test_network_policy_admits_only_the_scrape_and_reaches_only_what_the_worker_uses():
    np = find("NetworkPolicy", "ingest-worker")
    assert selects(np["spec"]["podSelector"]["matchLabels"], LABELS)
    assert sorted(np["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    (rule,) = np["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "stepflow-o12y"}
    prom = base.find("Deployment", "prometheus", "stepflow-o12y")["spec"]["template"]["metadata"]["labels"]
    assert selects(peer["podSelector"]["matchLabels"], prom)
    assert [p["port"] for p in rule["ports"]] == [int(setting("SERVER_PORT"))]

    def reaches(app: str, port: int) -> bool:
        return any(any(selects(t.get("podSelector", {}).get("matchLabels", {"-": "-"}), {"app": app}) for t in r.get("to", []))
                   and port in [p["port"] for p in r["ports"]] for r in np["spec"]["egress"])

    assert reaches("stepflow-server", urlparse(setting("STEPFLOW_TASKS_URL")).port)
    assert reaches("docling-serve", urlparse(setting("DOCLING_SERVE_URL")).port)
    assert reaches("opensearch", int(setting("OPENSEARCH_PORT")))
    dns = [r for r in np["spec"]["egress"] if 53 in [p["port"] for p in r["ports"]]]
    assert dns, "no DNS egress: the worker could resolve nothing"


def test_server_config_routes_ingest_to_our_queue_and_the_rest_of_langflow_elsewhere():
    cfg = config_of(SERVER_CONFIG_TEXT)
    assert ingest_queue(cfg) == "ingest"
    rules = cfg["routes"]["/langflow"]
    assert rules[0]["componentAllow"] == ["ingest"]
    rest = cfg["plugins"][rules[-1]["plugin"]]
    assert "componentAllow" not in rules[-1] and rest == {"type": "grpc", "queueName": "langflow"}
    assert cfg["plugins"][cfg["routes"]["/builtin"][0]["plugin"]]["type"] == "builtin"
    compose_cfg = config_of((DOCKER / "stepflow-config-grpc.yml").read_text())
    assert {k: v for k, v in compose_cfg.items()} == cfg, "compose and k8s run different 0.13 configs"


def test_server_runs_0_13_and_mounts_its_config():
    c = container(SERVER)
    assert c["image"] == "localhost/stepflow-server:0.13.0" and c["imagePullPolicy"] == "Never"
    args = c["args"]
    config_path = Path(args[args.index("--config") + 1])
    mount = next(m for m in c["volumeMounts"] if Path(m["mountPath"]) == config_path.parent)
    vol = next(v for v in SERVER["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert vol["configMap"]["name"] == "stepflow-server-config" and config_path.name in SERVER_CM["data"]
    # Workers in other pods heartbeat and complete at the address the server hands out: its Service.
    host, _, port = env_of(c)["STEPFLOW_ORCHESTRATOR_URL"]["value"].rpartition(":")
    svc = service_by_dns(host)
    assert selects(svc["spec"]["selector"], SERVER["spec"]["template"]["metadata"]["labels"])
    service_port(svc, int(port))


def test_compose_overlay_switches_the_worker_to_grpc_and_the_server_to_0_13():
    overlay = yaml.safe_load((DOCKER / "compose.grpc.yaml").read_text())["services"]
    env = overlay["ingest"]["environment"]
    assert env["STEPFLOW_TRANSPORT"] == "grpc"
    assert urlparse(env["STEPFLOW_TASKS_URL"]).hostname == "stepflow-server"
    assert set(env) <= set(WORKER_ENV) | PLATFORM_ENV
    server = overlay["stepflow-server"]
    assert server["image"] == "localhost/stepflow-server:0.13.0"
    assert server["build"]["args"]["STEPFLOW_VERSION"] == "0.13.0"
    assert any(v.startswith("./stepflow-config-grpc.yml:/app/config/stepflow-config.yml") for v in server["volumes"])
    assert server["environment"]["STEPFLOW_ORCHESTRATOR_URL"].startswith("stepflow-server:")


def test_readme_says_which_layout_fits_which_stepflow():
    text = (K8S / "README.md").read_text()
    assert "k8s/apply.sh grpc" in text and "0.12" in text and "0.9" in text
    assert "compose.grpc.yaml" in (REPO / "README.md").read_text()


def stepflow13_server_bin() -> str:
    hits = sorted(STEPFLOW13_VENV.glob("lib/python3*/site-packages/stepflow_orchestrator/bin/stepflow-server"))
    if hits:
        return str(hits[0])
    message = f"stepflow-server 0.13.0 not installed in {STEPFLOW13_VENV}: run scripts/validate-deploy"
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("source", ["k8s/stepflow-grpc/server/configmap.yaml", "docker/stepflow-config-grpc.yml"])
def test_real_stepflow_server_0_13_accepts_the_config(source, tmp_path):
    """The real 0.13.0 server starts with our config, answers health and lists the routes' plugins.
    (The routing of /langflow/ingest to the `ingest` queue is run end to end by
    Tests/live/test_grpc_worker.py.) The 0.13.0 server ignores SIGTERM: it is killed."""
    sf = stepflow13_server_bin()
    text = SERVER_CONFIG_TEXT if source.startswith("k8s/") else (REPO / source).read_text()
    config = tmp_path / "stepflow-config.yml"
    config.write_text(text)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sf, "--port", str(port), "--config", str(config), "--log-level", "warn"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", proc, seconds=30)
        time.sleep(1)
        assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
    finally:
        proc.kill()
        proc.wait(timeout=10)
