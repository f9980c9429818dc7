"""Start-up turns the overrides off, saying why, when the installed frameworks lack an internal
they reach; with everything present they run as asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from strawberry.extensions.context import ExtensionContextManagerBase
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import Schema, StrawberryGraphQLCoreExecutionContext
from structlog.testing import capture_logs

from omnigraph.app import create_app
from omnigraph.graph.overrides import ReleasedContexts, overrides_in_force
from omnigraph.graph.overrides.support import missing_internals
from omnigraph.settings import Settings


def _without_collect_subfields(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a graphql-core release without the method the leaf path calls through super()."""
    owner = next(
        k for k in StrawberryGraphQLCoreExecutionContext.__mro__ if "collect_subfields" in vars(k)
    )
    monkeypatch.delattr(owner, "collect_subfields")


def test_with_every_internal_present_the_overrides_run_as_asked() -> None:
    with capture_logs() as logs:
        assert overrides_in_force(requested=True) is True
        assert overrides_in_force(requested=False) is False
    assert logs == []


def test_a_missing_internal_switches_the_overrides_off_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without_collect_subfields(monkeypatch)
    with capture_logs() as logs:
        assert overrides_in_force(requested=True) is False
    assert logs == [
        {
            "event": "framework_overrides_switched_off",
            "log_level": "warning",
            "reason": "the installed strawberry or graphql-core lacks what the overrides reach",
            "missing": ["execution context's collect_subfields"],
        }
    ]


def test_the_service_then_runs_on_the_frameworks_ordinary_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_collect_subfields(monkeypatch)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/s.sqlite3", _env_file=None)
    with capture_logs():
        app = create_app(settings)
    assert not isinstance(app.state.graphql, ReleasedContexts)


@pytest.mark.parametrize(
    ("owner", "name", "said"),
    [
        (SchemaExtensionsRunner, "executing", "extensions runner's executing"),
        (Schema, "create_extensions_runner", "schema's create_extensions_runner"),
    ],
)
def test_a_missing_runner_internal_is_named(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str, said: str
) -> None:
    monkeypatch.delattr(owner, name)
    assert missing_internals() == [said]


def test_a_stage_without_the_slots_the_lean_runner_fills_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ExtensionContextManagerBase, "__slots__", ("exit_stack", "hooks"))
    assert missing_internals() == ["extension stage's default_hook"]
