#!/bin/sh
# Serve omnigraph's federation with Hive Gateway: compose the four subgraphs' SDL with the URL
# where each subgraph runs (composition records it in @join__graph(url:), where the gateway
# reads it), then start the gateway on that supergraph.
#   ORDERS_URL, INVENTORY_URL, PAYOUTS_URL, EXCEPTIONS_URL  each subgraph's /graphql (required)
#   SCHEMA_DIR  the subgraph SDL, NAME.graphql each (the gateway image carries its release's);
#               unset, `omnigraph export-schema --subgraphs` writes it from the installed code
#               (OMNIGRAPH: the command to run, default omnigraph)
#   SUPERGRAPH  where to write the supergraph    HOST, PORT  where the gateway listens
#               (default: 0.0.0.0:4000)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${TMPDIR:-/tmp}
if [ -z "${SCHEMA_DIR:-}" ]; then
  SCHEMA_DIR=$(mktemp -d "$work/omnigraph-subgraphs.XXXXXX")
  ${OMNIGRAPH:-omnigraph} export-schema --subgraphs --out "$SCHEMA_DIR" >/dev/null
fi
schema=$SCHEMA_DIR
supergraph=${SUPERGRAPH:-$work/omnigraph-supergraph.graphql}
node "$here/compose.mjs" "$supergraph" \
  --url "orders=${ORDERS_URL:?}" --url "inventory=${INVENTORY_URL:?}" \
  --url "payouts=${PAYOUTS_URL:?}" --url "exceptions=${EXCEPTIONS_URL:?}" \
  "orders=$schema/orders.graphql" "inventory=$schema/inventory.graphql" \
  "payouts=$schema/payouts.graphql" "exceptions=$schema/exceptions.graphql"
exec "$here/node_modules/.bin/hive-gateway" supergraph "$supergraph" \
  --config-path "$here/gateway.config.mjs" --host "${HOST:-0.0.0.0}" --port "${PORT:-4000}"
