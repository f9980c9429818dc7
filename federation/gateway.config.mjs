// Hive Gateway configuration for omnigraph's supergraph (see gateway.sh).
import { defineConfig } from "@graphql-hive/gateway";
import { Kind, visit } from "graphql";

// Each subgraph checks the caller's API key itself, so the client's Authorization header (and
// the request id, to follow one request through the logs) goes on to every subgraph call.
const forwarded = ["authorization", "x-request-id"];

// The gateway's HTTP transport (@graphql-tools/executor-http 3.4) takes a variables object
// with a truthy `promise` or `then` key for a file upload and sends it as a broken multipart
// body, which the subgraph refuses ("Unsupported content type"). The contract's
// `availability(promise:)` argument becomes exactly such a variable, so those variables are
// renamed before a subgraph call; the subgraph's answer does not depend on variable names.
const mistakenForUploads = new Set(["promise", "then"]);

function renameVariables(request) {
  const names = Object.keys(request.variables ?? {}).filter((n) => mistakenForUploads.has(n));
  if (names.length === 0) return null;
  const renamed = (name) => (mistakenForUploads.has(name) ? `${name}_` : name);
  const document = visit(request.document, {
    [Kind.VARIABLE]: (node) => ({ ...node, name: { ...node.name, value: renamed(node.name.value) } }),
  });
  const variables = Object.fromEntries(
    Object.entries(request.variables).map(([name, value]) => [renamed(name), value]),
  );
  return { ...request, document, variables };
}

const uploadSafeVariables = {
  onSubgraphExecute({ executionRequest, setExecutionRequest }) {
    const safe = renameVariables(executionRequest);
    if (safe) setExecutionRequest(safe);
  },
};

export const gatewayConfig = defineConfig({
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) =>
      Object.fromEntries(forwarded.map((name) => [name, request.headers.get(name) ?? undefined])),
  },
  plugins: () => [uploadSafeVariables],
});
