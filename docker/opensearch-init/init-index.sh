#!/bin/sh
# Create the OpenSearch index the ingest worker writes to, once, with its k-NN mapping.
# Used by docker/compose.yaml (service opensearch-init) and by the k8s Job opensearch-init-index
# (k8s/stepflow/opensearch/configmap.yaml carries a byte-identical copy; Tests/deploy checks that).
#
# Environment:
#   OPENSEARCH_URL       default http://opensearch:9200
#   OPENSEARCH_INDEX     default documents
#   INDEX_BODY           default /init/documents-index.json (settings + mappings)
#   OPENSEARCH_USERNAME / OPENSEARCH_PASSWORD   optional basic auth (security plugin on)
#   WAIT_SECONDS         default 300: how long to wait for the cluster
# Exit status: 0 created or already present, 1 anything else.
set -eu

url="${OPENSEARCH_URL:-http://opensearch:9200}"
index="${OPENSEARCH_INDEX:-documents}"
body="${INDEX_BODY:-/init/documents-index.json}"
wait_seconds="${WAIT_SECONDS:-300}"

auth_config=/tmp/opensearch-auth.curlrc
: > "$auth_config"
if [ -n "${OPENSEARCH_PASSWORD:-}" ]; then
    # Through a config file, so that the password is not on the command line.
    printf 'user = "%s:%s"\n' "${OPENSEARCH_USERNAME:-admin}" "$OPENSEARCH_PASSWORD" > "$auth_config"
fi

waited=0
until curl -fsS -K "$auth_config" -o /dev/null "$url/_cluster/health?wait_for_status=yellow&timeout=5s"; do
    if [ "$waited" -ge "$wait_seconds" ]; then
        echo "opensearch-init: $url not ready after ${wait_seconds}s" >&2
        exit 1
    fi
    echo "opensearch-init: waiting for $url ..."
    sleep 5
    waited=$((waited + 5))
done

status=$(curl -sS -K "$auth_config" -o /tmp/create-index.out -w '%{http_code}' \
    -X PUT "$url/$index" -H 'Content-Type: application/json' --data-binary "@$body")
case "$status" in
    200)
        echo "opensearch-init: created index '$index'"
        ;;
    400)
        if grep -q resource_already_exists_exception /tmp/create-index.out; then
            echo "opensearch-init: index '$index' already exists; left as it is"
        else
            echo "opensearch-init: PUT $index -> 400: $(cat /tmp/create-index.out)" >&2
            exit 1
        fi
        ;;
    *)
        echo "opensearch-init: PUT $index -> $status: $(cat /tmp/create-index.out)" >&2
        exit 1
        ;;
esac
