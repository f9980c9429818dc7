"""The worked examples of the user documentation, read off the Markdown (the convention is in
docs/ARCHITECTURE.md, "Examples are tests").

An example is a fenced query followed by the answer it shows:

- a ```` ```graphql ```` fence, then (optionally) a ```` ```json variables ```` fence, then a
  ```` ```json ```` fence: the whole response, as GraphiQL shows it (``{"data": ...}``);
- a ```` ```sh ```` (or ``bash``, ``console``) fence whose one command is a ``curl`` of a URL on
  the service (``http://127.0.0.1:8000/...``), then a fence holding the body it answers; a last
  line ``...`` in the body means that more lines follow the ones shown.

Only blank lines may stand between the fences of one example. A ```` ```graphql ```` fence that
no answer follows is a fragment of prose, not an example.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Example", "Fence", "fences", "find_examples", "mismatch"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`]*)$")
SHELLS = frozenset({"sh", "bash", "console", "shell"})
SERVICE = ("127.0.0.1:8000", "localhost:8000")
MORE = "..."


@dataclass(frozen=True)
class Fence:
    info: str  # the info string: "graphql", "json variables"
    body: str
    line: int  # where the opening fence is, from 1
    end: int  # the line of its closing fence

    @property
    def language(self) -> str:
        return self.info.split()[0].lower() if self.info else ""


@dataclass(frozen=True)
class Example:
    """One example: a GraphQL operation (``query``, ``variables``) or an HTTP GET (``path``),
    and the answer the document shows."""

    source: Path
    line: int
    answer: Fence
    query: str | None = None
    variables: dict[str, Any] | None = None
    path: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source.name}:{self.line}"

    @property
    def is_mutation(self) -> bool:
        return self.query is not None and bool(re.match(r"\s*mutation\b", self.query))


def fences(text: str) -> list[Fence]:
    """Every fenced block of a Markdown text, in order."""
    found: list[Fence] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        marker, info = opening.group(1), opening.group(2).strip()
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (
                closing
                and closing.group(1)[0] == marker[0]
                and len(closing.group(1)) >= len(marker)
            ) and not closing.group(2).strip():
                break
            body.append(lines[end])
            end += 1
        found.append(Fence(info, "\n".join(body) + "\n", index + 1, end + 1))
        index = end + 1
    return found


def _adjacent(text: str, before: Fence, after: Fence) -> bool:
    """Only blank lines between ``before``'s closing fence and ``after``'s opening one."""
    between = text.splitlines()[before.end : after.line - 1]
    return all(not line.strip() for line in between)


def _curl_path(body: str) -> str | None:
    """The path a one-command ``curl`` fence asks the service for, or None."""
    command = " ".join(line.rstrip("\\").strip() for line in body.strip().splitlines())
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words or words[0] != "curl":
        return None
    for word in words[1:]:
        parts = urlsplit(word)
        if parts.scheme in ("http", "https") and parts.netloc in SERVICE:
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return None


def find_examples(path: Path) -> list[Example]:
    """The examples of one Markdown file, in document order."""
    text = path.read_text()
    blocks = fences(text)
    examples: list[Example] = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        rest = blocks[index + 1 :]
        if block.language == "graphql":
            variables: dict[str, Any] | None = None
            following = rest
            if (
                following
                and following[0].info.lower().split() == ["json", "variables"]
                and _adjacent(text, block, following[0])
            ):
                variables = json.loads(following[0].body)
                following = following[1:]
            last = block if variables is None else rest[0]
            if (
                following
                and following[0].info.lower() == "json"
                and _adjacent(text, last, following[0])
            ):
                examples.append(
                    Example(path, block.line, following[0], query=block.body, variables=variables)
                )
                index += len(rest) - len(following) + 2
                continue
        elif block.language in SHELLS and rest and _adjacent(text, block, rest[0]):
            request = _curl_path(block.body)
            if request is not None:
                examples.append(Example(path, block.line, rest[0], path=request))
                index += 2
                continue
        index += 1
    return examples


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def mismatch(example: Example, status: int, body: str) -> str | None:
    """Why the answer the service gave differs from the one shown, or None when it is the same."""
    if status != 200:
        return f"{example.where}: HTTP {status}: {body[:500]}"
    shown = example.answer.body
    if example.answer.language == "json":
        try:
            expected = json.loads(shown)
        except json.JSONDecodeError as error:
            return f"{example.where}: the answer shown is not JSON ({error})"
        actual = json.loads(body)
        if _canonical(expected) == _canonical(actual):  # true is not 1, nor 1.0 1
            return None
        return f"{example.where}: the answer differs; it is now:\n" + json.dumps(
            actual, indent=2, ensure_ascii=False
        )
    expected_lines = shown.rstrip("\n").splitlines()
    actual_lines = body.rstrip("\n").splitlines()
    if expected_lines and expected_lines[-1].strip() == MORE:
        expected_lines = expected_lines[:-1]
        actual_lines = actual_lines[: len(expected_lines)]
    if expected_lines == actual_lines:
        return None
    return f"{example.where}: the answer differs; it begins:\n" + "\n".join(
        body.splitlines()[: max(len(expected_lines), 1) + 2]
    )
