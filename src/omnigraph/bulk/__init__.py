"""Bulk exports: a query over a whole connection (``orders``, ``payouts``, ``exceptions``) run
in the background, page by page with the caller's permissions, into one file to download.

- ``plan.py``: what a row of the export holds, read off the query once and kept as data;
- ``operations.py``: the exports in the database (start, list, cancel; the runner's claims);
- ``runner.py``: the background work: claim an export, run its pages, checkpoint, finish;
  and the cleanup of expired files;
- ``store.py``: the directory the files live in; ``formats.py``: JSONL, CSV, Parquet;
- ``events.py``: progress for subscribers; ``download.py``: ``GET /bulk/{id}/file``;
- ``schema.py`` and ``resolvers.py``: the GraphQL side (the query's analysis, the page
  executor that runs each page through the schema as the caller).
"""
