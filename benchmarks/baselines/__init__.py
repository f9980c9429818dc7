"""Baselines for the ``http`` benchmark, mounted into the service for benchmarks only:
hand-written starlette endpoints (``raw``) and a strawberry schema without dataloaders (``naive``).
"""
