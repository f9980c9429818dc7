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
