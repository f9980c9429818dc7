"""``GET /reports/reconciliation.csv?from=&to=``: the reconciliation lines for a spreadsheet or a
reporting tool, the same rows the graph's summary is built from.

Mounted behind the same bearer authentication as ``/graphql``; finance, reporting and admin
may read it. ``from`` and ``to`` are ISO dates or timestamps (``to`` exclusive; a date means its
midnight UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from omnigraph.core.http_errors import error_json
from omnigraph.payouts.report import csv_lines
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Principal, Role

__all__ = ["reconciliation_csv"]

READERS = frozenset({Role.FINANCE, Role.REPORTING})
MAX_PERIOD = timedelta(days=366)


def _moment(raw: str | None, name: str) -> datetime:
    if not raw:
        raise ValueError(f"`{name}` is required (an ISO date or timestamp)")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"`{name}` {raw!r} is not an ISO date or timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def reconciliation_csv(request: Request) -> Response:
    user = request.scope.get("user")
    if not isinstance(user, Principal) or not user.has_any(READERS):
        return error_json(403, "FORBIDDEN", "this needs the finance or reporting role")
    try:
        start = _moment(request.query_params.get("from"), "from")
        end = _moment(request.query_params.get("to"), "to")
    except ValueError as error:
        return error_json(400, "BAD_USER_INPUT", str(error))
    if end <= start:
        return error_json(400, "BAD_USER_INPUT", "`to` must be after `from`")
    if end - start > MAX_PERIOD:
        return error_json(400, "BAD_USER_INPUT", "a period is at most 366 days; export in parts")
    services: Services = request.app.state.services
    name = f"reconciliation_{start:%Y%m%d}_{end:%Y%m%d}.csv"
    return StreamingResponse(
        csv_lines(services.sessions, start, end),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
