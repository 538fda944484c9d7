#!/usr/bin/env bash
# Remove everything k8s/apply.sh created, in reverse order. The cluster itself stays:
#   kind delete cluster --name stepflow
#
# Usage: k8s/teardown.sh [--yes]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

if [[ "${1:-}" != "--yes" ]]; then
    read -r -p "Delete all ingest/stepflow resources, data included? (y/N) " reply
    if [[ ! "$reply" =~ ^[Yy]$ ]]; then
        echo "Aborted."
        exit 0
    fi
fi

echo "[1/4] Stepflow server, load balancer, ingest workers"
kubectl delete -f stepflow/server/ --ignore-not-found
kubectl delete -f stepflow/loadbalancer/ --ignore-not-found
kubectl delete -f stepflow/ingest-worker/ --ignore-not-found
# The Stepflow 0.13 (gRPC) layout uses the same names; deleting both folders covers either.
kubectl delete -f stepflow-grpc/server/ --ignore-not-found
kubectl delete -f stepflow-grpc/ingest-worker/ --ignore-not-found

echo "[2/4] Docling and OpenSearch"
kubectl delete -f stepflow/docling/ --ignore-not-found
kubectl delete -f stepflow/opensearch/ --ignore-not-found

echo "[3/4] Observability"
for component in grafana promtail loki prometheus jaeger otel-collector; do
    kubectl delete -f "stepflow-o12y/$component/" --ignore-not-found
done

echo "[4/4] Namespaces (and whatever is left in them, the stepflow-secrets secret included)"
kubectl delete -f namespaces.yaml --ignore-not-found
echo "Teardown complete."
