"""Bearer JWT → Principal (semantics.md §8).

HS256 with a shared secret, or RS256/ES256 with public keys from a PEM file or a JWKS file (selected by
`kid`, so keys can rotate). The algorithm comes from an allow-list and decides which key is used: a public
key is never tried as an HMAC secret, and `none` is never accepted.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .errors import ApiError

READ_SCOPE = "readings:read"
WRITE_SCOPE = "readings:write"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="connect-readings"'}
_FAMILY = {"HS256": "HS", "RS256": "RS", "ES256": "ES"}
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    scopes: frozenset[str]
    entities: frozenset[uuid.UUID] | None
    """None means every entity ("*")."""

    def can_see(self, entity_id: uuid.UUID) -> bool:
        return self.entities is None or entity_id in self.entities


class Authenticator:
    def __init__(
        self,
        secret: str | None = None,
        public_key_pem: str | None = None,
        jwks_json: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        algorithms: tuple[str, ...] = ("HS256", "RS256", "ES256"),
        leeway_s: int = 30,
    ) -> None:
        self.secret = secret
        self.algorithms = tuple(a for a in algorithms if a in _FAMILY)
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.pem_keys: dict[str, Any] = {}
        if public_key_pem:
            self.pem_keys = _pem_keys(public_key_pem)
        self.jwks: dict[str, tuple[str, Any]] = _jwks(jwks_json) if jwks_json else {}
        # Verified tokens, so a client repeating its token costs a dict lookup instead of a signature check.
        self._verified: OrderedDict[str, tuple[Principal, float | None, float | None]] = OrderedDict()

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise _unauthorized("an 'Authorization: Bearer <token>' header is required")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        cached = self._verified.get(token)
        now = time.time()
        if cached is not None:
            principal, exp, nbf = cached
            if (exp is None or now < exp + self.leeway_s) and (nbf is None or now >= nbf - self.leeway_s):
                return principal
            self._verified.pop(token, None)
        claims = self._decode(token)
        principal = _principal(claims)
        self._verified[token] = (principal, _number(claims.get("exp")), _number(claims.get("nbf")))
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _unauthorized(f"the token's algorithm {str(alg)[:16]!r} is not accepted")
        key = self._key_for(alg, header.get("kid"))
        options: dict[str, Any] = {"require": ["exp"], "verify_aud": self.audience is not None}
        if self.issuer is not None:
            options["require"] = ["exp", "iss"]
        try:
            return jwt.decode(
                token, key, algorithms=[alg], issuer=self.issuer, audience=self.audience,
                options=options, leeway=self.leeway_s,
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("the bearer token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise _unauthorized("the bearer token has the wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("the bearer token has the wrong audience") from None
        except jwt.PyJWTError:
            raise _unauthorized("the bearer token is invalid") from None

    def _key_for(self, alg: str, kid: Any) -> Any:
        family = _FAMILY[alg]
        if family == "HS":
            if not self.secret:
                raise _unauthorized("HS256 tokens are not accepted by this server")
            return self.secret
        if isinstance(kid, str) and kid in self.jwks:
            key_family, key = self.jwks[kid]
            if key_family != family:
                raise _unauthorized("the token's algorithm does not match its key")
            return key
        if family in self.pem_keys:
            return self.pem_keys[family]
        raise _unauthorized("no public key for this token (unknown 'kid')")


def mint_token(
    secret: str,
    entities: list[str] | str,
    scopes: str,
    ttl_s: float,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"scope": scopes, "entities": entities, "iat": now, "exp": now + int(ttl_s)}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise ApiError(403, "Forbidden", f"the bearer token lacks the '{scope}' scope")


def _principal(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope", "")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset(
        s for s in scope if isinstance(s, str)
    ) if isinstance(scope, list) else frozenset()
    raw = claims.get("entities", [])
    if raw == "*" or raw == ["*"]:
        return Principal(scopes, None)
    entities: set[uuid.UUID] = set()
    if isinstance(raw, list):
        for item in raw:
            try:
                entities.add(uuid.UUID(str(item)))
            except ValueError:
                continue
    return Principal(scopes, frozenset(entities))


def _pem_keys(pem: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return {"RS": key}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"ES": key}
    raise ValueError("the JWT public key must be an RSA or EC public key in PEM form")


def _jwks(text: str) -> dict[str, tuple[str, Any]]:
    import json

    keys: dict[str, tuple[str, Any]] = {}
    for jwk in json.loads(text).get("keys", []):
        kid = jwk.get("kid")
        if not kid:
            continue
        if jwk.get("kty") == "RSA":
            keys[kid] = ("RS", RSAAlgorithm.from_jwk(jwk))
        elif jwk.get("kty") == "EC":
            keys[kid] = ("ES", ECAlgorithm.from_jwk(jwk))
    return keys


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "Unauthorized", message, headers=_CHALLENGE)
