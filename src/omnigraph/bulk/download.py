"""``GET /bulk/{id}/file``: a finished export's file, for the key that started it.

Mounted behind the same bearer authentication as ``/graphql``. Served from the file store with
its ``Content-Length``, and one range (``Range: bytes=...``, answered 206; a client resumes an
interrupted download; several ranges are answered with the whole file, as HTTP allows), streamed
from disk. Only a COMPLETED export's file is ever served, until its retention ends: a running,
failed or cancelled export has none (409), an expired one's is deleted (410), and another key's
export is as one that does not exist (404).

The file is opened before the answer is made, and the body streamed from that open file: the
cleanup deleting it at the end of its retention (any replica's) cannot cut short a download
already answered, whose ``Content-Length`` promised every byte.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

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
    expired = row.expires_at is None or row.expires_at <= services.now()
    file = None if expired or not row.file_name else await _open(files.path(row.file_name))
    if file is None:
        return error_json(
            410, "BULK_FILE_EXPIRED", "the export's file was deleted at the end of its retention"
        )
    return _file_response(
        request,
        file,
        media_type=MEDIA_TYPES[row.format],
        filename=f"bulk-{row_id}{EXTENSIONS[row.format]}",
        etag=f'"{row_id}-{row.file_size or 0}"',
    )


async def _open(path: Path) -> BinaryIO | None:
    def open_it() -> BinaryIO | None:
        try:
            return open(path, "rb")  # the body closes it
        except FileNotFoundError:
            return None

    return await anyio.to_thread.run_sync(open_it)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_BYTES = 64 * 1024


def _file_response(
    request: Request, file: BinaryIO, *, media_type: str, filename: str, etag: str
) -> Response:
    """The open ``file`` whole, or the one range the request asks (see the module)."""
    size = os.fstat(file.fileno()).st_size
    start, end = 0, size
    status = 200
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    found = _RANGE.match(wanted.strip()) if wanted else None
    if found and (if_range is None or if_range == etag):
        first, last = found.groups()
        if first:
            start, end = int(first), min(int(last) + 1, size) if last else size
        elif last:
            start, end = max(size - int(last), 0), size
        if (not first and not last) or (first and last and int(last) < int(first)):
            start, end = 0, size  # not a range: the whole file
        elif start >= size:
            file.close()
            return PlainTextResponse(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        else:
            status = 206
    headers = {
        "Content-Length": str(end - start),
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        _body(file, start, end), status_code=status, headers=headers, media_type=media_type
    )


async def _body(file: BinaryIO, start: int, end: int) -> AsyncIterator[bytes]:
    try:
        await anyio.to_thread.run_sync(file.seek, start)
        left = end - start
        while left > 0:
            chunk = await anyio.to_thread.run_sync(file.read, min(CHUNK_BYTES, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        file.close()
