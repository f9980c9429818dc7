"""The response media type of a GraphQL-over-HTTP request, from its ``Accept`` header.

The GraphQL-over-HTTP specification has two: ``application/graphql-response+json``, with which
a request error (a body that is not a GraphQL request, a document that does not parse or
validate, variables that do not coerce) is a 4xx and its answer has no ``data`` entry, and the
legacy ``application/json``, with which every GraphQL answer is a 200.

- the type the client ranks highest (``q``) is chosen; at equal rank one it names outright beats
  one it admits by a wildcard, and when it names both, ``application/graphql-response+json``;
- a wildcard alone (``*/*``, what curl and most HTTP libraries send) and no ``Accept`` at all
  keep ``application/json``, so a client that did not ask keeps the answers it always had (the
  specification's legacy default: its later one would turn today's 200s into 400s);
- when neither is acceptable there is none (the view answers ``406 NOT_ACCEPTABLE``).
"""

from __future__ import annotations

__all__ = ["GRAPHQL_RESPONSE_JSON", "JSON", "MEDIA_TYPES", "response_media_type"]

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# in the order a tie between two wildcard matches is settled: the legacy type first
MEDIA_TYPES = (JSON, GRAPHQL_RESPONSE_JSON)


def _ranges(accept: str) -> list[tuple[str, float]]:
    """Each media range of ``accept`` (lower case, parameters but ``q`` dropped) and its q."""
    ranges = []
    for item in accept.split(","):
        media_range, *parameters = (part.strip() for part in item.split(";"))
        if not media_range:
            continue
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # a q that is not a number admits nothing
        ranges.append((media_range.lower(), q))
    return ranges


def _rank(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """``(q, specificity)`` of the most specific range that matches ``media_type`` (specificity
    2: named outright, 1: ``type/*``, 0: ``*/*``); ``(0, -1)`` when none does."""
    kind = media_type.split("/")[0]
    best = (0.0, -1)
    for media_range, q in ranges:
        specificity = (
            2
            if media_range == media_type
            else 1
            if media_range == f"{kind}/*"
            else 0
            if media_range == "*/*"
            else -1
        )
        if specificity > best[1]:
            best = (q, specificity)
    return best


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer a request with ``accept`` in, None when it admits neither.

    >>> response_media_type(None), response_media_type("*/*")
    ('application/json', 'application/json')
    >>> response_media_type("application/graphql-response+json, application/json;q=0.9")
    'application/graphql-response+json'
    >>> response_media_type("application/json, application/graphql-response+json;q=0.5")
    'application/json'
    >>> response_media_type("text/html, */*;q=0.1")
    'application/json'
    >>> response_media_type("application/graphql-response+json, */*")
    'application/graphql-response+json'
    >>> response_media_type("text/html") is None, response_media_type("*/*;q=0") is None
    (True, True)
    """
    if accept is None or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    ranked = [(_rank(media_type, ranges), media_type) for media_type in MEDIA_TYPES]
    acceptable = [(rank, media_type) for rank, media_type in ranked if rank[0] > 0]
    if not acceptable:
        return None
    # max keeps the first of equals: JSON when both came in by the same wildcard
    (q, specificity), chosen = max(acceptable, key=lambda item: item[0])
    if specificity == 2 and (q, 2) == _rank(GRAPHQL_RESPONSE_JSON, ranges):
        return GRAPHQL_RESPONSE_JSON  # both named outright at the same rank
    return chosen
