"""GraphiQL that works without the internet: strawberry's page, its assets served from here.

strawberry's GraphiQL page loads React, GraphiQL and its explorer plugin from unpkg.com. The
same files, byte for byte, live in ``static/vendor`` under their unpkg paths, so the page is
rewritten to ask this service for them and the ``integrity`` hashes strawberry writes still
verify them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "assets", "offline_page"]

ASSETS_PATH: Final = "/graphiql-assets"
_DIRECTORY: Final = Path(__file__).parent / "static" / "vendor"
_CDN: Final = "https://unpkg.com/"


def offline_page(html: str) -> str:
    """strawberry's GraphiQL page with every unpkg.com address made this service's."""
    return html.replace(_CDN, f"{ASSETS_PATH}/")


def assets() -> StaticFiles:
    """The ASGI app serving the vendored files (mounted at ``ASSETS_PATH``)."""
    return StaticFiles(directory=_DIRECTORY)
