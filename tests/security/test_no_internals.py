"""Nothing internal escapes in production (issue 18, point 6): not a decoding error's text, not
a raw exception raised before execution, not frame locals in the logs."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import strawberry
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

from omnigraph import cli
from omnigraph.graph.build import SubgraphSpec, assemble_schema
from omnigraph.observability.logging import LogFormat, configure_logging
from omnigraph.security.principal import Role
from tests.helpers import logging_put_back
from tests.security.conftest import production_service

SECRET = "sk_live_do_not_log_me"


production = production_service(*Role)


async def test_a_lone_surrogate_in_the_query_is_refused_without_a_decoding_error(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    for body in (
        b'{"query": "{ __typename \\ud800 }"}',
        b'{"query": "{ __typename }", "variables": {"a": "\\udfff"}}',
        # a lone surrogate encoded as UTF-8 bytes (CESU): not UTF-8 at all
        '{"query": "{ __typename \ud800 }"}'.encode("utf-8", "surrogatepass"),
    ):
        response = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": "BAD_REQUEST"}
        for leak in ("codec", "position", "can't encode", "can't decode"):
            assert leak not in response.text


async def test_an_unknown_fragment_answers_no_internal_text(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    response = await client.post("/graphql", json={"query": "query { ...Nope }"})
    (error,) = response.json()["errors"]
    assert error["message"] != "'Nope'"
    assert "KeyError" not in response.text
    code = error["extensions"]["code"]
    if code == "INTERNAL_SERVER_ERROR":  # strawberry's depth limiter breaks on it: masked
        assert error["message"] == "Unexpected error."
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    else:
        assert code == "GRAPHQL_VALIDATION_FAILED"


@strawberry.type
class Greeting:
    hello: str = "hi"


class BreaksWhileValidating(SchemaExtension):
    """A step before execution that raises: strawberry answers it outside its extensions."""

    def on_validate(self) -> Iterator[None]:
        raise RuntimeError(f"internal detail {SECRET}")
        yield  # pragma: no cover


@pytest.mark.parametrize("production", [True, False])
async def test_an_error_raised_before_execution_is_masked_in_production(
    production: bool,
) -> None:
    schema = assemble_schema(
        SubgraphSpec(query=Greeting, types=[]),
        production=production,
        observers=[BreaksWhileValidating],
    )
    result = await schema.execute("{ hello }")
    assert result.data is None
    (error,) = result.errors or []
    assert error.extensions is not None
    assert error.extensions["code"] == "INTERNAL_SERVER_ERROR"
    if production:
        assert error.message == "Unexpected error."
        assert "requestId" in error.extensions
    else:  # development shows it, as it shows every unexpected error
        assert SECRET in error.message


# -- logs -------------------------------------------------------------------------------------


@pytest.fixture
def log_to() -> Iterator[Any]:
    """``log_to(format, **options)``: the process's logging sent to a buffer (returned), and
    put back afterwards."""

    def configure(log_format: LogFormat, **options: Any) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(log_format, stream=stream, **options)
        return stream

    with logging_put_back():
        yield configure


def fail_with_a_secret_in_a_local() -> None:
    token = SECRET  # what a request handler holds: a key, a customer's address
    raise RuntimeError(f"failed for a key of {len(token)} characters")


def log_a_failure() -> None:
    try:
        fail_with_a_secret_in_a_local()
    except RuntimeError:
        structlog.get_logger("omnigraph.test").exception("graphql_unexpected_error")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_tracebacks_in_the_logs_carry_no_frame_locals(log_to: Any, log_format: LogFormat) -> None:
    stream = log_to(log_format)
    log_a_failure()
    written = stream.getvalue()
    assert "fail_with_a_secret_in_a_local" in written  # the traceback is there
    assert SECRET not in written
    if log_format == "json":
        lines = [json.loads(line) for line in written.splitlines()]
        assert len(lines) == 2
        for line in lines:
            (exception,) = line["exception"]
            assert exception["frames"]
            assert all("locals" not in frame for frame in exception["frames"])


def test_locals_are_shown_only_when_asked(log_to: Any) -> None:
    """The test above would see them: development's console asks for them."""
    stream = log_to("console", show_locals=True)
    log_a_failure()
    assert SECRET in stream.getvalue()


@pytest.mark.parametrize(("mode", "shown"), [("production", False), ("development", True)])
def test_the_command_line_shows_locals_in_development_only(
    monkeypatch: pytest.MonkeyPatch, mode: str, shown: bool
) -> None:
    asked: dict[str, Any] = {}

    def configure(log_format: str, **options: Any) -> None:
        asked.update(options, log_format=log_format)

    monkeypatch.setenv("OMNIGRAPH_MODE", mode)
    monkeypatch.setattr(cli, "configure_logging", configure)
    monkeypatch.setattr(sys, "argv", ["omnigraph", "--help"])
    with pytest.raises(SystemExit):
        cli.main()
    assert asked["show_locals"] is shown
    assert asked["log_format"] == ("json" if mode == "production" else "console")


async def test_an_error_nothing_handled_is_a_coded_500(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    """Starlette's last resort answers coded JSON too, with nothing of the error."""
    app, client = production

    async def broken(request: Request) -> Response:
        raise RuntimeError(f"internal detail {SECRET}")

    app.router.add_route("/_broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://omnigraph", headers=client.headers
        ) as http:
            response = await http.get("/_broken")
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    assert response.json() == {
        "errors": [
            {"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        ]
    }
    assert SECRET not in response.text
