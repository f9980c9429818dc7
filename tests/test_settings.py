"""Settings come from arguments, the environment, the TOML file and the defaults, in that order;
anything invalid stops start-up with a message naming the setting and the file or variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from omnigraph.core.errors import ConfigurationError
from omnigraph.core.sources import SourceKind
from omnigraph.settings import (
    DispatchPolicy,
    QueryLimits,
    Settings,
    SourcesConfig,
    settings_reference,
)

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
[[sources]]
name = "web-store"
kind = "storefront"
base_url = "http://127.0.0.1:8101"
token_env = "WEB_STORE_TOKEN"

[[sources]]
name = "erp"
kind = "erp"
base_url = "http://127.0.0.1:8102"

[[sources]]
name = "wms-east"
kind = "wms"
base_url = "http://127.0.0.1:8103"

[[sources]]
name = "psp"
kind = "payments"
base_url = "http://127.0.0.1:8104"
"""


pytestmark = pytest.mark.usefixtures("clean_environment")


def write(tmp_path: Path, text: str, name: str = "omnigraph.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(path: Path) -> SourcesConfig:
    sources = Settings(config=path).sources_config
    assert sources is not None
    return sources


def test_a_good_file_loads_and_reads_tokens_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(write(tmp_path, GOOD))
    assert [s.name for s in config.sources] == ["web-store", "erp", "wms-east", "psp"]
    assert [s.name for s in config.of_kind(SourceKind.WMS)] == ["wms-east"]
    monkeypatch.setenv("WEB_STORE_TOKEN", "s3cret")
    assert config.sources[0].token() == "s3cret"
    monkeypatch.delenv("WEB_STORE_TOKEN")
    with pytest.raises(ConfigurationError, match="WEB_STORE_TOKEN is not set"):
        config.sources[0].token()


def test_the_file_named_by_the_environment_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIGRAPH_CONFIG", str(write(tmp_path, GOOD)))
    assert len(Settings().sources) == 4


def test_without_a_file_there_are_no_sources_and_the_demo_stands_in() -> None:
    settings = Settings()
    assert settings.sources == []
    assert settings.sources_config is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('kind = "wms"', 'kind = "crm"'), "sources.2.kind"),
        (GOOD.replace('name = "psp"', 'name = "erp"'), "repeated: erp"),
        (GOOD.split('[[sources]]\nname = "psp"')[0], "missing: payments"),
        (GOOD.replace("http://127.0.0.1:8102", "not a url"), "sources.1.base_url"),
        (GOOD.replace('name = "erp"', 'name = "erp"\ncolour = "red"'), "sources.1.colour"),
        ("sources = [", "not valid TOML"),
        ("[limits]\nmax_depth = 0\n" + GOOD, "limits.max_depth: Input should be greater"),
        ("[limits]\nmax_dept = 3\n" + GOOD, "limits.max_dept: Extra inputs"),
        ('rate_limit = "lots"\n' + GOOD, "rate_limit: Value error, 'lots' is not a rate limit"),
        ("sourcs = []\n", "sourcs: Extra inputs are not permitted"),
        ('config = "other.toml"\n', "config names this file"),
    ],
)
def test_bad_files_fail_clearly_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=re.escape(message)) as raised:
        Settings(config=path)
    assert str(raised.value).startswith(f"configuration file {path}")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"configuration file .*nope.toml does not exist"):
        Settings(config=tmp_path / "nope.toml")


def test_precedence_arguments_then_environment_then_file_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        'mode = "production"\nport = 9001\nhost = "0.0.0.0"\n'
        "[limits]\nmax_depth = 7\nmax_cost = 900\n\n[dispatch.breaker]\nthreshold = 2\n" + GOOD,
    )
    monkeypatch.setenv("OMNIGRAPH_PORT", "9002")
    monkeypatch.setenv("OMNIGRAPH_MAX_COST", "800")
    settings = Settings(config=path, host="10.0.0.1")
    assert settings.host == "10.0.0.1"  # argument over file
    assert settings.port == 9002  # environment over file
    assert settings.limits.max_cost == 800  # a flat variable over the file's table
    assert settings.limits.max_depth == 7  # the file's table, its other entries kept
    assert settings.limits.max_aliases == QueryLimits().max_aliases  # the default
    assert settings.dispatch.breaker.threshold == 2
    assert settings.mode == "production"  # from the file
    assert Settings(config=path, limits={"max_depth": 3}).limits.max_depth == 3


def test_settings_in_sections_keep_their_flat_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIGRAPH_MAX_DEPTH", "12")
    monkeypatch.setenv("OMNIGRAPH_MAX_PAGE_SIZE", "200")
    monkeypatch.setenv("OMNIGRAPH_EXECUTION_TIMEOUT_SECONDS", "4.5")
    monkeypatch.setenv("OMNIGRAPH_DISPATCH_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("OMNIGRAPH_BREAKER_THRESHOLD", "9")
    monkeypatch.setenv("OMNIGRAPH_BREAKER_RESET_SECONDS", "1.5")
    settings = Settings()
    assert settings.limits.max_depth == 12
    assert settings.limits.max_page_size == 200
    assert settings.limits.execution_timeout_seconds == 4.5
    assert settings.dispatch.max_attempts == 3
    assert settings.dispatch.breaker == settings.dispatch.breaker.model_copy(
        update={"threshold": 9, "reset_seconds": 1.5}
    )
    # the nested name is read too, and wins over the flat one
    monkeypatch.setenv("OMNIGRAPH_LIMITS__MAX_DEPTH", "6")
    monkeypatch.setenv("OMNIGRAPH_DISPATCH__BREAKER__THRESHOLD", "4")
    settings = Settings()
    assert settings.limits.max_depth == 6
    assert settings.limits.max_page_size == 200
    assert settings.dispatch.breaker.threshold == 4


def test_a_dotenv_file_may_use_either_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OMNIGRAPH_MAX_TOKENS=300\nOMNIGRAPH_DISPATCH__BATCH_SIZE=7\n")
    settings = Settings()
    assert settings.limits.max_tokens == 300
    assert settings.dispatch.batch_size == 7


def test_a_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIGRAPH_MAX_DEPTH", "deep")
    with pytest.raises(
        ConfigurationError,
        match=re.escape("limits.max_depth (OMNIGRAPH_MAX_DEPTH or OMNIGRAPH_LIMITS__MAX_DEPTH)"),
    ):
        Settings()
    monkeypatch.delenv("OMNIGRAPH_MAX_DEPTH")
    monkeypatch.setenv("OMNIGRAPH_MODE", "staging")
    with pytest.raises(ConfigurationError, match=re.escape("mode (OMNIGRAPH_MODE): Input should")):
        Settings()


def test_every_default_is_the_models() -> None:
    settings = Settings()
    assert settings.limits == QueryLimits()
    assert settings.dispatch == DispatchPolicy()
    reference = {s.name: s.default for s in settings_reference()}
    assert reference["limits.max_depth"] == 10
    assert reference["dispatch.breaker.reset_seconds"] == 30.0
    assert all(s.description for s in settings_reference())


def test_every_variable_the_docs_and_deployment_name_is_a_setting() -> None:
    known = {env for setting in settings_reference() for env in setting.env}
    pages = [ROOT / "README.md", ROOT / "Dockerfile", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in [*pages, *sorted(p for p in (ROOT / "deploy").rglob("*") if p.is_file())]:
        named = set(re.findall(r"OMNIGRAPH_[A-Z_]*[A-Z]", page.read_text()))
        named -= {n for n in named if n.startswith(("OMNIGRAPH_TEST_", "OMNIGRAPH_BENCH_"))}
        assert named - known == set(), page.name


def test_an_argument_must_name_a_setting() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting 'max_depth'"):
        Settings(max_depth=3)
