"""``GET /bulk/{id}/file``: a finished export's file, for the key that started it.

Mounted behind the same bearer authentication as ``/graphql``. Served from the file store with
its ``Content-Length``, and ranges (``Range: bytes=...``, answered 206; a client resumes an
interrupted download), streamed from disk. Only a COMPLETED export's file is ever served, until
its retention ends: a running, failed or cancelled export has none (409), an expired one's is
deleted (410), and another key's export is as one that does not exist (404).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from omnigraph.bulk.operations import BulkStatus, bulk_operation_key, get_operation
from omnigraph.bulk.store import EXTENSIONS, BulkFiles
from omnigraph.core.errors import InvalidId
from omnigraph.core.http_errors import error_json
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Principal

__all__ = ["MEDIA_TYPES", "bulk_file"]

MEDIA_TYPES = {
    "JSONL": "application/jsonl",
    "CSV": "application/zip",
    "PARQUET": "application/vnd.apache.parquet",
}


async def bulk_file(request: Request) -> Response:
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        return error_json(401, "UNAUTHENTICATED", "a bearer token is required")
    raw = request.path_params["id"]
    try:
        row_id = bulk_operation_key(raw)
    except InvalidId:
        return error_json(404, "NOT_FOUND", f"no export {raw} of yours")
    services: Services = request.app.state.services
    row = await get_operation(services.sessions, row_id, user.owner)
    if row is None:
        return error_json(404, "NOT_FOUND", f"no export {raw} of yours")
    if row.status != BulkStatus.COMPLETED:
        return error_json(
            409,
            "BULK_NOT_COMPLETED",
            f"the export is {row.status}: a file is served only once it is COMPLETED",
            bulkStatus=row.status,
        )
    files = services.get(BulkFiles)
    path = files.path(row.file_name) if row.file_name else None
    expired = row.expires_at is None or row.expires_at <= services.now()
    if expired or path is None or not path.is_file():
        return error_json(
            410, "BULK_FILE_EXPIRED", "the export's file was deleted at the end of its retention"
        )
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[row.format],
        filename=f"bulk-{row_id}{EXTENSIONS[row.format]}",
    )
