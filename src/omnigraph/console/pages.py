"""The console's routes: one template per page, and the static assets beside them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from omnigraph.core.sources import SourceKind
from omnigraph.exceptions.catalogue import ExceptionKind
from omnigraph.exceptions.lifecycle import ExceptionStatus

__all__ = ["CONTENT_SECURITY_POLICY", "PAGES", "routes"]

_HERE: Final = Path(__file__).parent
# (path under /console, template, title in the navigation)
PAGES: Final = (
    ("", "queue.html", "Exception queue"),
    ("/order", "order.html", "Order truth"),
    ("/dashboard", "dashboard.html", "Dashboard"),
    ("/map", "map.html", "System map"),
)
# nothing from outside omnigraph: scripts, styles, images and requests all stay on this origin
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# the age filter: older than each of these (since detection)
AGES: Final = (("1h", "1 hour"), ("4h", "4 hours"), ("24h", "1 day"), ("72h", "3 days"))

SourceNames = Callable[[Request], Sequence[str]]

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _page(template: str, title: str, source_names: SourceNames) -> Route:
    compiled = _environment.get_template(template)

    async def render(request: Request) -> Response:
        html = compiled.render(
            title=title,
            pages=[(f"/console{path}", name) for path, _, name in PAGES],
            current=request.url.path.rstrip("/") or "/console",
            kinds=[kind.value for kind in ExceptionKind],
            statuses=[status.value for status in ExceptionStatus],
            owner_kinds=[kind.name for kind in SourceKind],
            ages=AGES,
            source_names=source_names(request),
        )
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    return Route(f"/console{template_path(template)}", render, methods=["GET"])


def template_path(template: str) -> str:
    return next(path for path, name, _ in PAGES if name == template)


def routes(source_names: SourceNames) -> list[BaseRoute]:
    """The console's pages, and its scripts and styles under ``/console/static``;
    ``source_names`` tells a request the configured systems' names (the order form offers
    them)."""
    return [
        *(_page(template, title, source_names) for _, template, title in PAGES),
        Mount("/console/static", StaticFiles(directory=_HERE / "static"), name="console-static"),
    ]
