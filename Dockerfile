# The image every mode runs from: slim, non-root, `omnigraph serve` by default (the whole graph
# in one process), `omnigraph serve --subgraph NAME` for one federation subgraph, and any other
# command (`omnigraph db upgrade`, `omnigraph demo`, `omnigraph dispatch`, ...). The `gateway`
# stage (`docker build --target gateway`) is Hive Gateway serving the four subgraphs.
# deploy/compose.yaml starts them all.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

# The four subgraphs' SDL, written from this release's code: what the gateway composes
FROM python:3.11-slim AS subgraphs
COPY --from=build /install /usr/local
RUN omnigraph export-schema --subgraphs --out /schema

# Hive Gateway: composes the subgraphs' SDL (/schema) with each subgraph's URL (ORDERS_URL,
# INVENTORY_URL, PAYOUTS_URL, EXCEPTIONS_URL) and serves the supergraph on port 4000
# (federation/gateway.sh).
FROM node:20-slim AS gateway
WORKDIR /gateway
COPY federation/package.json federation/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY federation/compose.mjs federation/gateway.config.mjs federation/gateway.sh ./
COPY --from=subgraphs /schema /schema
USER node
ENV HOST=0.0.0.0 \
    PORT=4000 \
    SCHEMA_DIR=/schema
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:4000/readiness').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["sh", "/gateway/gateway.sh"]

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 omnigraph
COPY --from=build /install /usr/local
USER omnigraph
WORKDIR /home/omnigraph
# production by default: API keys required, no introspection, and no demo data unless
# OMNIGRAPH_DEMO=true asks for it (mount a sources file and set OMNIGRAPH_CONFIG)
ENV OMNIGRAPH_MODE=production \
    OMNIGRAPH_HOST=0.0.0.0 \
    OMNIGRAPH_PORT=8000 \
    OMNIGRAPH_DATABASE_URL=sqlite+aiosqlite:////home/omnigraph/var/omnigraph.sqlite3
EXPOSE 8000
# liveness only (no I/O): a down database or source is no reason to restart the process;
# a load balancer asks /readyz, and /healthz reports each source
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=4).status == 200 else 1)"
CMD ["omnigraph", "serve"]
