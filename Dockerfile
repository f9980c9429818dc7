# Slim, non-root image running `omnigraph serve` with a health check on /healthz.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 omnigraph
COPY --from=build /install /usr/local
USER omnigraph
WORKDIR /home/omnigraph
ENV OMNIGRAPH_HOST=0.0.0.0 \
    OMNIGRAPH_PORT=8000 \
    OMNIGRAPH_DATABASE_URL=sqlite+aiosqlite:////home/omnigraph/var/omnigraph.sqlite3
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["omnigraph", "serve"]
