"""JWT bearer tokens: verified by shared secret or by the identity provider's JWKS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from omnigraph.demo import DemoSystems
from tests.conftest import running_app

SECRET = "test-secret-with-enough-entropy-0123456789"
PAYOUTS = "{ payouts(first: 1) { edges { node { id } } } }"


def token(key: Any = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    body = {"sub": "ana@finance", "roles": ["finance"], "exp": int(time.time()) + 300}
    body.update(claims)
    headers = {"kid": "k1"} if algorithm == "RS256" else None
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


async def ask(client: httpx.AsyncClient, bearer: str, query: str = PAYOUTS) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {bearer}"}
    )


@pytest.fixture(scope="module")
async def secret_app(
    demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    async for app, graph in running_app(
        demo, clean_database, mode="production", jwt_secret=SECRET, jwt_audience="omnigraph"
    ):
        yield app, graph.client


async def test_a_valid_token_acts_with_its_roles(
    secret_app: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = secret_app
    finance = await ask(client, token(aud="omnigraph"))
    assert finance.status_code == 200
    assert "errors" not in finance.json()
    storefront = (await ask(client, token(aud="omnigraph", roles=["storefront"]))).json()
    assert storefront["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("label", "bearer"),
    [
        ("expired", token(aud="omnigraph", exp=int(time.time()) - 3600)),
        ("wrong signature", token("another-secret-that-is-long-enough-000000", aud="omnigraph")),
        ("wrong audience", token(aud="someone-else")),
        ("no audience", token()),
        ("no known role", token(aud="omnigraph", roles=["wizard"])),
        ("no subject", token(aud="omnigraph", sub="")),
        ("not a token", "eyJ.not.a.jwt"),
    ],
)
async def test_a_bad_token_is_a_401(
    secret_app: tuple[Starlette, httpx.AsyncClient], label: str, bearer: str
) -> None:
    response = await ask(secret_app[1], bearer)
    assert response.status_code == 401, label
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[tuple[str, Any]]:
    """A JWKS endpoint on loopback, publishing one RSA key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", private
    finally:
        server.shutdown()
        server.server_close()


async def test_tokens_signed_by_the_identity_provider_are_verified_by_jwks(
    demo: DemoSystems, clean_database: str, identity_provider: tuple[str, Any]
) -> None:
    url, private = identity_provider
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async for _, graph in running_app(
        demo, clean_database, mode="production", jwt_jwks_url=url, jwt_issuer="https://idp"
    ):
        signed = token(private, "RS256", iss="https://idp")
        assert (await ask(graph.client, signed)).status_code == 200
        forged = token(other, "RS256", iss="https://idp")
        assert (await ask(graph.client, forged)).status_code == 401
        wrong_issuer = token(private, "RS256", iss="https://elsewhere")
        assert (await ask(graph.client, wrong_issuer)).status_code == 401
        # an HS256 token "signed" with the public key must not pass (algorithm confusion)
        assert (await ask(graph.client, token(SECRET, iss="https://idp"))).status_code == 401
