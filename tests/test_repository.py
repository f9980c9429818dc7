"""What a clone holds: the licence the package declares, and no link out of the repository."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# a relative link or path in prose: Markdown's ](target) and a bare ../something
_LINK = re.compile(r"\]\((?P<md>[^)\s#]+)[^)]*\)|(?<![\w./])(?P<bare>\.\./[\w./-]+)")
_TEXT = {".md", ".py", ".toml", ".yaml", ".yml", ".graphql", ".sh", ".mjs", ".cfg", ""}


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        REPO / name
        for name in listed
        if Path(name).suffix in _TEXT and "static/" not in name and (REPO / name).is_file()
    ]


def test_the_licence_file_is_the_one_pyproject_declares() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text


def test_no_tracked_file_links_outside_the_repository() -> None:
    outside = []
    for path in tracked_text_files():
        for match in _LINK.finditer(path.read_text(errors="replace")):
            target = match.group("md") or match.group("bare")
            if "://" in target or target.startswith(("mailto:", "/")):
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(REPO):
                outside.append(f"{path.relative_to(REPO)}: {target}")
    assert outside == []


# --- the user documentation: README.md and every Markdown page under docs/ ---------------------

# a tracker reference: "issue 9", "issues 5 and 6", "PR 12", "(#17)", "the targets"
_TRACKER_WORDS = re.compile(
    r"\b(?:issues?|tickets?|PRs?|pull requests?)\s*#?\d+|\bissues?'", re.IGNORECASE
)
_TRACKER_HASH = re.compile(r"(?<![\w&#/])(?<!\]\()#\d+\b")  # not a link's "](#1-anchor)"
_FENCED = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"``[^`]+``|`[^`\n]+`")
_MD_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REPO_PATH = re.compile(
    r"(?<![\w./-])((?:src|docs|tests|benchmarks|schema|deploy|federation)/[\w./*:\[\]-]*)"
)
_SHELL = {"sh", "bash", "console", "shell"}


def user_docs() -> list[Path]:
    """What a newcomer reads: the README and every Markdown page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced blocks and inline code (where ``#100248`` is an order's name)."""
    return _INLINE_CODE.sub("", _FENCED.sub("", text))


def tracker_references(text: str) -> list[str]:
    """Mentions of an issue tracker: anywhere for words ("issue 9"), in prose for ``#17``."""
    return [m.group(0) for m in _TRACKER_WORDS.finditer(text)] + [
        m.group(0) for m in _TRACKER_HASH.finditer(prose(text))
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in _FENCED.sub("", path.read_text()).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def repository_paths(text: str) -> list[str]:
    """Paths into the repository a page names: in inline code, and in shell fences."""
    named = []
    for span in _INLINE_CODE.findall(_FENCED.sub("", text)):
        words = span.strip("`").split()
        if words and _REPO_PATH.fullmatch(words[0]):
            named.append(words[0])
    for fence in _FENCED.finditer(text):
        info = fence.group(0).splitlines()[0].strip("`~ ").split()
        if info and info[0].lower() in _SHELL:
            named += [m.group(1) for m in _REPO_PATH.finditer(fence.group(0))]
    return named


def missing_target(page: Path, target: str, *, link: bool = True) -> str | None:
    """Why a link (relative to ``page``) or a repository path (relative to the repository's
    root) leads nowhere, or None when it leads somewhere."""
    where, _, anchor = target.partition("#")
    base = page.parent if link else REPO
    path, _, test = where.partition("::")
    path = path.rstrip(":.,;")
    if "*" in path:
        if not any(base.glob(path)):
            return f"{target}: matches no file"
        return None
    resolved = (base / path).resolve() if path else page
    if not resolved.exists():
        return f"{target}: no such file"
    if test:
        name = test.split("[")[0]
        if not re.search(rf"^\s*(?:async )?def {re.escape(name)}\(", resolved.read_text(), re.M):
            return f"{target}: no test {name} in {path}"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{target}: no heading with the anchor #{anchor}"
    return None


def test_the_tracker_check_finds_references_and_spares_order_names() -> None:
    assert tracker_references("fixed after issue 9's work; see issues 5 and 6 (#17)") == [
        "issue 9",
        "issues 5",
        "#17",
    ]
    assert tracker_references("[a step](#1-install) of the tour") == []
    assert tracker_references("at the issues' sizes, against the issue's targets")
    spared = 'Order `#100248`, to issue a refund:\n```json\n{"name": "#100248"}\n```\n'
    assert tracker_references(spared) == []


def test_no_tracker_references_in_the_user_docs() -> None:
    found = [
        f"{page.relative_to(REPO)}: {ref}"
        for page in user_docs()
        for ref in tracker_references(page.read_text())
    ]
    assert found == []


def test_every_link_and_path_in_the_user_docs_exists() -> None:
    """Relative Markdown links (and their #anchors), and every repository path a page names in
    inline code or a shell fence (`src/...`, `tests/...::test_name`, globs), lead somewhere."""
    broken = []
    for page in user_docs():
        text = page.read_text()
        links = [m.group(1) for m in _MD_LINK.finditer(_INLINE_CODE.sub("", _FENCED.sub("", text)))]
        for target in links:
            if "://" in target or target.startswith("mailto:"):
                continue
            problem = missing_target(page, target)
            if problem:
                broken.append(f"{page.relative_to(REPO)}: link {problem}")
        for path in repository_paths(text):
            problem = missing_target(page, path, link=False)
            if problem:
                broken.append(f"{page.relative_to(REPO)}: path {problem}")
    assert broken == []


def test_the_link_check_finds_what_is_gone() -> None:
    page = REPO / "docs" / "getting-started.md"
    assert missing_target(page, "concepts.md#layered-truth") is None
    assert missing_target(page, "concepts.md#no-such-heading") is not None
    assert missing_target(page, "#install-and-run") is None
    assert missing_target(page, "docs/concepts.md") is not None  # docs/docs/concepts.md
    assert missing_target(page, "src/omnigraph/schema/query.py", link=False) is not None
    assert missing_target(page, "src/omnigraph/examples/*.graphql", link=False) is None
    test = "tests/test_repository.py::test_the_link_check_finds_what_is_gone"
    assert missing_target(page, test, link=False) is None
    assert missing_target(page, test.replace("gone", "lost"), link=False) is not None
    assert repository_paths("`src/omnigraph/app.py` and `benchmarks/run.py reconcile`") == [
        "src/omnigraph/app.py",
        "benchmarks/run.py",
    ]


def test_ci_runs_exactly_the_documented_test_command() -> None:
    """The README's (and getting-started's) set-up commands are the ones CI runs and the same on
    both pages."""

    def commands(page: Path) -> list[str]:
        return [
            line
            for fence in _FENCED.finditer(page.read_text())
            for line in fence.group(0).splitlines()
            if line.startswith("python3 -m venv .venv")
        ]

    readme = commands(REPO / "README.md")
    assert readme == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/omnigraph serve",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'"
        " && npm ci --prefix federation && .venv/bin/pytest",
    ]
    assert commands(REPO / "docs" / "getting-started.md") == readme
    assert readme[1] in (REPO / ".ci" / "run").read_text().splitlines()
