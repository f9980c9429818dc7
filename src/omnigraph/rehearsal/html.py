"""The rehearsal report as one HTML page: the verdicts, a table per phase, and charts over time
drawn as inline SVG (no scripts, nothing fetched)."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["html_report"]

WIDTH, HEIGHT = 640, 140


def _chart(title: str, points: list[tuple[float, float]], colour: str) -> str:
    if not points:
        return f"<h3>{escape(title)}</h3><p>no data</p>"
    top = max(value for _, value in points) or 1.0
    end = max(second for second, _ in points) or 1.0
    path = " ".join(
        f"{second / end * (WIDTH - 40) + 30:.1f},{HEIGHT - 20 - value / top * (HEIGHT - 40):.1f}"
        for second, value in points
    )
    return (
        f"<h3>{escape(title)}</h3>"
        f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<line x1="30" y1="{HEIGHT - 20}" x2="{WIDTH - 10}" y2="{HEIGHT - 20}" stroke="#999"/>'
        f'<line x1="30" y1="10" x2="30" y2="{HEIGHT - 20}" stroke="#999"/>'
        f'<text x="0" y="18" font-size="10">{top:g}</text>'
        f'<text x="{WIDTH - 60}" y="{HEIGHT - 5}" font-size="10">{end:g} s</text>'
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/></svg>'
    )


def html_report(body: dict[str, Any]) -> str:
    timeline = body.get("timeline", [])
    charts = [
        ("GraphQL requests per second", "requests", "#2563eb"),
        ("GraphQL p99 (ms)", "p99Ms", "#d97706"),
        ("GraphQL errors", "errors", "#dc2626"),
        ("WMS movements waiting for availability", "movementsWaiting", "#059669"),
        ("Resolutions waiting on their owner (backlog)", "resolutionsPending", "#7c3aed"),
        ("Planted disagreements waiting for their exception", "disagreementsWaiting", "#db2777"),
    ]
    verdicts = "".join(
        f"<tr><td>{escape(v['name'])}</td><td>{escape(str(v['value']))}</td>"
        f"<td>{escape(str(v['limit']))}</td><td>{'pass' if v['passed'] else 'FAIL'}</td></tr>"
        for v in body["thresholds"]
    )
    phases = "".join(
        f"<tr><td>{escape(p['name'])}</td><td>{p['graphql']['requests']}</td>"
        f"<td>{p['graphql']['errors']}</td><td>{p['graphql']['p50Ms']}</td>"
        f"<td>{p['graphql']['p99Ms']}</td><td>{p['movementToAvailability']['p50Ms']}</td>"
        f"<td>{p['movementToAvailability']['p99Ms']}</td>"
        f"<td>{p['promises']['broken']} of {p['promises']['made']}</td>"
        f"<td>{p['disagreementToException']['p50Ms']}</td>"
        f"<td>{p['disagreementToException']['p99Ms']}</td></tr>"
        for p in body["phases"]
    )
    drawn = "".join(
        _chart(
            title,
            [(point["second"], float(point[key] or 0)) for point in timeline],
            colour,
        )
        for title, key, colour in charts
    )
    verdict = "passed" if body["passed"] else "FAILED"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>rehearsal {escape(body['scenario'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd}</style></head><body>"
        f"<h1>Rehearsal {escape(body['scenario'])}: {verdict}</h1>"
        f"<p>{escape(body.get('description', ''))} ({body['seconds']} s)</p>"
        "<h2>Thresholds</h2><table><tr><th>figure</th><th>value</th><th>limit</th>"
        f"<th>verdict</th></tr>{verdicts}</table>"
        "<h2>Phases</h2><table><tr><th>phase</th><th>requests</th><th>errors</th>"
        "<th>p50 ms</th><th>p99 ms</th><th>movement→availability p50 ms</th><th>p99 ms</th>"
        "<th>promises broken</th><th>disagreement→exception p50 ms</th><th>p99 ms</th>"
        f"</tr>{phases}</table><h2>Over time</h2>{drawn}</body></html>\n"
    )
