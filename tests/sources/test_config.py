"""Source configuration is validated at start-up with messages a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnigraph.core.errors import ConfigurationError
from omnigraph.sources.config import load_sources_config

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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "omnigraph.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads_and_reads_tokens_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_sources_config(write(tmp_path, GOOD))
    assert [s.name for s in config.sources] == ["web-store", "erp", "wms-east", "psp"]
    monkeypatch.setenv("WEB_STORE_TOKEN", "s3cret")
    assert config.sources[0].token() == "s3cret"
    monkeypatch.delenv("WEB_STORE_TOKEN")
    with pytest.raises(ConfigurationError, match="WEB_STORE_TOKEN is not set"):
        config.sources[0].token()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('kind = "wms"', 'kind = "crm"'), "sources.2.kind"),
        (GOOD.replace('name = "psp"', 'name = "erp"'), "repeated: erp"),
        (GOOD.split('[[sources]]\nname = "psp"')[0], "missing: payments"),
        (GOOD.replace("http://127.0.0.1:8102", "not a url"), "sources.1.base_url"),
        ("sources = [", "not valid TOML"),
    ],
)
def test_bad_files_fail_clearly(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_sources_config(write(tmp_path, text))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_sources_config(tmp_path / "nope.toml")
