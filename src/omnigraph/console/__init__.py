"""The operations console at ``/console``: server-rendered pages (Jinja2 templates) whose
little vanilla JavaScript asks ``/graphql`` with the API key the user signs in with.

The pages themselves carry no data and need no credential: every figure on them comes from
``/graphql``, so a key sees exactly what its roles may see there, and a key whose roles may not
read exceptions (a storefront key) is told it has no console. Nothing is loaded from outside
omnigraph (the Content-Security-Policy says ``'self'``); no build step.
"""

from __future__ import annotations

from omnigraph.console.pages import PAGES, routes

__all__ = ["PAGES", "routes"]
