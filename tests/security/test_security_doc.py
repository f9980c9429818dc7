"""docs/SECURITY.md stays true: every test it names exists, every setting it names is one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from omnigraph.settings import settings_reference

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "SECURITY.md").read_text()


def test_every_test_the_security_doc_names_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC)
    assert len(named) >= 20
    missing = []
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text())
        functions = {
            n.name for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef)
        }
        if name not in functions:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_setting_the_security_doc_names_is_a_setting() -> None:
    named = set(re.findall(r"OMNIGRAPH_[A-Z_]+", DOC))
    assert {"OMNIGRAPH_MODE", "OMNIGRAPH_MAX_COST", "OMNIGRAPH_RATE_LIMIT"} <= named
    known = {env for setting in settings_reference() for env in setting.env}
    assert named - known == set()
