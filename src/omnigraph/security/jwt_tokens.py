"""JWT bearer tokens from an identity provider, verified against a JWKS or a shared secret.

Roles come from a claim (``roles`` by default, a list of role names); a storefront's channel
from ``channel``. Unknown role names are ignored, not trusted: a token whose roles are all
unknown is refused. Expiry, not-before, issuer and audience are checked by PyJWT; JWKS keys are
fetched and cached by PyJWT's ``PyJWKClient`` (its fetch is blocking, so it runs in a thread).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import jwt

from omnigraph.security.principal import Principal, Role

__all__ = ["JwtVerifier"]

_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JwtVerifier:
    secret: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    issuer: str | None = None
    roles_claim: str
    leeway_seconds: float = 30.0
    _jwks: jwt.PyJWKClient | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.jwks_url:
            object.__setattr__(self, "_jwks", jwt.PyJWKClient(self.jwks_url, cache_keys=True))

    @property
    def enabled(self) -> bool:
        return bool(self.secret or self.jwks_url)

    async def principal(self, token: str) -> Principal | None:
        """The token's principal, or None when it is not a valid token for this service."""
        try:
            if self._jwks is not None:
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                claims = self._decode(token, signing.key, _ASYMMETRIC)
            elif self.secret:
                claims = self._decode(token, self.secret, ["HS256", "HS384", "HS512"])
            else:
                return None
        except (jwt.PyJWTError, ValueError):
            return None
        names = claims.get(self.roles_claim) or []
        if isinstance(names, str):
            names = names.split()
        roles = frozenset(Role(n) for n in names if n in Role._value2member_map_)
        subject = claims.get("sub")
        if not roles or not isinstance(subject, str) or not subject:
            return None
        channel = claims.get("channel")
        expiry = claims.get("exp")
        return Principal(
            subject=subject[:120],
            roles=roles,
            channel=channel if isinstance(channel, str) else None,
            via="jwt",
            valid_until=float(expiry) + self.leeway_seconds
            if isinstance(expiry, int | float)
            else None,
        )

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        decoded: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway_seconds,
            options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
        )
        return decoded
