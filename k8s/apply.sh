#!/usr/bin/env bash
# Deploy the ingest stack in dependency order and wait for each layer to be ready.
#
# Usage: k8s/apply.sh [http|grpc]
#   http (default)  Stepflow 0.9-0.11: the server calls the workers through the load balancer
#   grpc            Stepflow 0.12+ (0.13.0): the workers pull tasks from the server; no balancer
# Needs: kubectl pointing at the cluster (kind create cluster --config k8s/kind-config.yaml), the
# images loaded (k8s/README.md) and, for embeddings, the stepflow-secrets secret.
# Environment: WAIT_TIMEOUT (default 300s) for each wait.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
timeout="${WAIT_TIMEOUT:-300s}"
layout="${1:-http}"
case "$layout" in
    http|grpc) ;;
    *) echo "usage: k8s/apply.sh [http|grpc]" >&2; exit 2 ;;
esac

wait_for() {  # wait_for <namespace> <kind/name> [condition]
    local ns=$1 resource=$2 condition=${3:-available}
    echo "    waiting for $resource ($condition)..."
    kubectl wait --namespace "$ns" --for="condition=$condition" --timeout="$timeout" "$resource"
}

echo "[1/6] Namespaces"
kubectl apply -f namespaces.yaml

if ! kubectl get secret stepflow-secrets --namespace stepflow > /dev/null 2>&1; then
    echo "    note: secret stepflow-secrets is missing; the workers start without OPENAI_API_KEY."
    echo "    Create it as k8s/README.md shows, then: kubectl rollout restart deployment/ingest-worker -n stepflow"
fi

echo "[2/6] Observability (stepflow-o12y)"
for component in otel-collector jaeger prometheus loki promtail grafana; do
    kubectl apply -f "stepflow-o12y/$component/"
done
wait_for stepflow-o12y deployment/otel-collector

echo "[3/6] Infrastructure: OpenSearch and Docling"
kubectl apply -f stepflow/opensearch/
kubectl apply -f stepflow/docling/
wait_for stepflow deployment/opensearch
wait_for stepflow job/opensearch-init-index complete
wait_for stepflow deployment/docling-serve

if [[ "$layout" == grpc ]]; then
    echo "[4/6] The Stepflow 0.13 server (the workers dial it, so it comes first)"
    kubectl apply -f stepflow-grpc/server/
    kubectl rollout status --namespace stepflow --timeout="$timeout" deployment/stepflow-server

    echo "[5/6] Ingest workers (gRPC pull; ready once their task stream is connected)"
    kubectl apply -f stepflow-grpc/ingest-worker/
    kubectl rollout status --namespace stepflow --timeout="$timeout" deployment/ingest-worker
else
    echo "[4/6] Ingest workers"
    kubectl apply -f stepflow/ingest-worker/
    kubectl rollout status --namespace stepflow --timeout="$timeout" deployment/ingest-worker

    echo "[5/6] Load balancer, then the Stepflow server (it sends initialize through the balancer at start-up)"
    kubectl apply -f stepflow/loadbalancer/
    kubectl rollout status --namespace stepflow --timeout="$timeout" deployment/stepflow-load-balancer
    kubectl apply -f stepflow/server/
    kubectl rollout status --namespace stepflow --timeout="$timeout" deployment/stepflow-server
fi

echo "    Embeddings API (ingest serve-embeddings: the in-process MiniLM for query-time vectors)"
kubectl apply -f stepflow/ingest-embeddings/
kubectl rollout status --namespace stepflow --timeout="$timeout" deployment/ingest-embeddings

echo "[6/6] Status"
kubectl get pods --namespace stepflow -o wide
kubectl get pods --namespace stepflow-o12y
cat <<'URLS'

Stepflow API  http://localhost:7840/api/v1/health   (Swagger: /swagger-ui/)
Grafana       http://localhost:3000   (admin/admin; dashboard Stepflow / Ingest workers)
Jaeger        http://localhost:16686
Prometheus    http://localhost:9090
Embeddings    http://ingest-embeddings.stepflow.svc.cluster.local:8080/v1   (in the cluster; kubectl port-forward svc/ingest-embeddings 8011:8080 -n stepflow)
URLS
