"""Bearer JWT → Principal (docs/semantics.md §8).

HS256 with a shared secret, or RS256/ES256 with public keys from a PEM file, a JWKS file or a JWKS URL
(selected by `kid`, so keys can rotate; a URL's set is fetched again as they do). The algorithm comes from an
allow-list and decides which key is used: a public key is never tried as an HMAC secret, an RSA key never verifies an ES256 token (nor the reverse), keys
embedded in the token (`jwk`, `jku`, `x5u`, `x5c`) are ignored, and `none` is never accepted.

The Authorization header's scheme is case-insensitive and may be followed by any run of spaces (RFC 7235);
the token itself must be the JWS compact serialization exactly (RFC 7515: base64url without `=` padding, no
stray bits in a part's last character), so one token has one spelling. A principal's identity, which the rate
limits count, comes from the verified token, never from the header's text.

Nothing here logs a token, and no error message repeats one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import logging
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.x509 import load_pem_x509_certificate
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ..domain.errors import quoted
from .errors import ApiError

log = logging.getLogger("connect_readings.auth")
READ_SCOPE = "readings:read"
WRITE_SCOPE = "readings:write"
ENTITIES_WRITE_SCOPE = "entities:write"
"""Registering an entity and changing its description (PUT /v1/entities/{entityId})."""
TARIFFS_WRITE_SCOPE = "tariffs:write"
"""Writing price series (PUT /v1/prices/{priceId}) and an entity's tariff (PUT /v1/entities/{entityId}/tariff)."""
REALM = 'Bearer realm="connect-readings"'
_FAMILY = {"HS256": "HS", "RS256": "RS", "ES256": "ES"}
SUPPORTED_ALGORITHMS = tuple(_FAMILY)
_CACHE_SIZE = 4096
_MIN_RSA_BITS = 2048
MIN_SECRET_BYTES = 32
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
MINTED_SUBJECT_PREFIX = "connect-readings-cli:"
"""`sub` of the tokens `connect-readings token` and `demo` mint: this prefix and 16 random hex digits."""
PRINCIPAL_KEY = "connect_readings.principal"
"""Where `Api.authorize` leaves the request's Principal in the ASGI scope (for the request log)."""


@dataclass(frozen=True, slots=True)
class Principal:
    scopes: frozenset[str]
    entities: frozenset[uuid.UUID] | None
    """None means every entity ("*")."""
    subject: str | None = None
    """The token's `sub` claim: who the request log names (never the token)."""
    identity: str | None = None
    """Who the rate limits count: `sub:<sub>`, else `jti:<jti>`, else `sha256:<digest of the verified token>`."""

    def can_see(self, entity_id: uuid.UUID) -> bool:
        return self.entities is None or entity_id in self.entities


class Authenticator:
    def __init__(
        self,
        secret: str | None = None,
        public_key_pem: str | None = None,
        jwks_json: str | None = None,
        jwks_url: "JwksUrl | None" = None,
        issuer: str | None = None,
        audience: str | None = None,
        algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
        leeway_s: int = 30,
    ) -> None:
        unknown = [a for a in algorithms if a not in _FAMILY]
        if unknown:
            raise ValueError(
                f"unsupported JWT algorithm(s) {unknown!r}; the allow-list may hold {list(SUPPORTED_ALGORITHMS)}"
            )
        if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes long (HS256)")
        self.secret = secret or None
        self.algorithms = tuple(dict.fromkeys(algorithms))
        self.issuer = issuer or None
        self.audience = audience or None
        self.leeway_s = leeway_s
        # Keys without a kid (PEM file): per family, every key is tried in turn.
        self.pem_keys: dict[str, list[Any]] = _pem_keys(public_key_pem) if public_key_pem else {}
        # Keys with a kid (JWKS file): kid → (family, key).
        self.file_jwks: dict[str, tuple[str, Any]] = _jwks(jwks_json) if jwks_json else {}
        # Keys of a JWKS URL (kid → (family, key)), refreshed by their own thread.
        self.jwks_url = jwks_url
        # Verified tokens, so a client repeating its token costs a dict lookup instead of a signature check
        # (≈ 22 µs of a hot-page request, `python -m bench.asgi_profile`).
        # Only tokens whose exp (and nbf) are plain numbers get here, so expiry is re-checked on every hit.
        self._verified: OrderedDict[str, tuple[Principal, float, float | None]] = OrderedDict()

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise _unauthorized("an 'Authorization: Bearer <token>' header is required", presented=False)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None:
            principal, exp, nbf = cached
            if now < exp + self.leeway_s and (nbf is None or now >= nbf - self.leeway_s):
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        claims = self._decode(token)
        principal = _principal(claims, token)
        self._verified[token] = (principal, float(claims["exp"]), _number(claims.get("nbf")))
        if len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> dict[str, Any]:
        if not _compact_jws(token):
            raise _unauthorized("the bearer token is not a well-formed JWT")
        try:
            header = jwt.get_unverified_header(token)
        except Exception:
            raise _unauthorized("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise _unauthorized("the token's header must name its algorithm ('alg')")
        if alg not in self.algorithms:
            raise _unauthorized(f"the token's algorithm {quoted(alg, 19)} is not accepted")
        required = ["exp"] + (["iss"] if self.issuer else []) + (["aud"] if self.audience else [])
        # exp, nbf and iat are checked below, once they are known to be numbers: PyJWT reads `true` as 1.
        options: dict[str, Any] = {"require": required, "verify_aud": self.audience is not None,
                                   "verify_exp": False, "verify_nbf": False, "verify_iat": False}
        last_error: Exception | None = None
        for key in self._keys_for(alg, header.get("kid")):
            try:
                claims = jwt.decode(
                    token, key, algorithms=[alg], issuer=self.issuer, audience=self.audience,
                    options=options, leeway=self.leeway_s,
                )
            except jwt.InvalidSignatureError as exc:
                last_error = exc  # another key of the PEM file may have signed it
                continue
            except jwt.InvalidIssuerError:
                raise _unauthorized("the bearer token has the wrong issuer") from None
            except jwt.InvalidAudienceError:
                raise _unauthorized("the bearer token has the wrong audience") from None
            except jwt.MissingRequiredClaimError as exc:
                raise _unauthorized(f"the bearer token lacks the '{exc.claim}' claim") from None
            except Exception:  # any other failure to decode or validate (PyJWTError, overflow, …) is a 401
                raise _unauthorized("the bearer token is invalid") from None
            if not isinstance(claims, dict) or _number(claims.get("exp")) is None or any(
                name in claims and _number(claims[name]) is None for name in ("nbf", "iat")
            ):
                raise _unauthorized("the bearer token's 'exp', 'nbf' and 'iat' must be numbers of seconds")
            now = time.time()
            if float(claims["exp"]) <= now - self.leeway_s:
                raise _unauthorized("the bearer token has expired")
            if any(name in claims and float(claims[name]) > now + self.leeway_s for name in ("nbf", "iat")):
                raise _unauthorized("the bearer token is not valid yet")
            return claims
        if last_error is not None:
            raise _unauthorized("the bearer token's signature does not verify")
        raise _unauthorized("no key of this server matches the token")  # pragma: no cover (keys_for raises)

    @property
    def jwks(self) -> dict[str, tuple[str, Any]]:
        """kid → (family, key): the JWKS URL's keys as last fetched, else the JWKS file's."""
        return self.jwks_url.keys if self.jwks_url is not None else self.file_jwks

    def _keys_for(self, alg: str, kid: Any) -> list[Any]:
        family = _FAMILY[alg]
        if family == "HS":
            if not self.secret:
                raise _unauthorized("HS256 tokens are not accepted by this server")
            return [self.secret]
        if kid is not None:
            if not isinstance(kid, str) or kid not in self.jwks:
                if self.jwks_url is not None and isinstance(kid, str):
                    self.jwks_url.ask()  # perhaps a rotated key: fetch the set again (throttled, off this thread)
                if self.jwks or not self.pem_keys.get(family):
                    raise _unauthorized("no public key for this token (unknown 'kid')")
                return self.pem_keys[family]  # a kid the PEM keys cannot name: try them
            key_family, key = self.jwks[kid]
            if key_family != family:
                raise _unauthorized("the token's algorithm does not match its key")
            return [key]
        candidates = list(self.pem_keys.get(family, []))
        if not candidates:
            # Without a kid, a JWKS key is used only when it is the one key of that family.
            same = [key for key_family, key in self.jwks.values() if key_family == family]
            if len(same) == 1:
                candidates = same
        if not candidates:
            raise _unauthorized("no public key for this token (it carries no 'kid')")
        return candidates


def mint_token(
    secret: str,
    entities: list[str] | str,
    scopes: str,
    ttl_s: float,
    issuer: str | None = None,
    audience: str | None = None,
    subject: str | None = None,
) -> str:
    """An HS256 token; its `sub` is `subject`, else a new `connect-readings-cli:<16 hex digits>` (a principal)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject or f"{MINTED_SUBJECT_PREFIX}{secrets.token_hex(8)}",
        "scope": scopes, "entities": entities, "iat": now, "exp": now + int(ttl_s),
    }
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise ApiError(
            403, "Forbidden", f"the bearer token lacks the '{scope}' scope",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
        )


def _principal(claims: dict[str, Any], token: str) -> Principal:
    """`token` is the verified token in its one spelling (`_compact_jws`): its digest names it."""
    scope = claims.get("scope", "")
    if isinstance(scope, str):
        scopes = frozenset(scope.split())
    elif isinstance(scope, list):
        scopes = frozenset(s for s in scope if isinstance(s, str))
    else:
        scopes = frozenset()
    sub = claims.get("sub")
    subject = sub[:200] if isinstance(sub, str) and sub else None
    jti = claims.get("jti")
    if subject is not None:
        identity = f"sub:{subject}"
    elif isinstance(jti, str) and jti:
        identity = f"jti:{jti[:200]}"
    else:
        identity = f"sha256:{hashlib.sha256(token.encode('ascii')).hexdigest()}"
    raw = claims.get("entities", [])
    if raw == "*" or raw == ["*"]:
        return Principal(scopes, None, subject, identity)
    entities: set[uuid.UUID] = set()
    if isinstance(raw, list):
        for item in raw:
            if not isinstance(item, str):
                continue
            try:
                entities.add(uuid.UUID(item))
            except ValueError:
                continue
    return Principal(scopes, frozenset(entities), subject, identity)


def _compact_jws(token: str) -> bool:
    """Three base64url parts, each the one spelling of its bytes: no `=` padding, no set unused bits."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    for part in parts:
        if not _BASE64URL.fullmatch(part):
            return False
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            return False
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != part:
            return False
    return True


def _public(key: Any) -> Any:
    """The public half; a private key given by mistake must not break verification (or be kept)."""
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return key.public_key()
    return key


def _family_of(key: Any, where: str) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ValueError(f"{where}: RSA keys must have at least {_MIN_RSA_BITS} bits")
        return "RS"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"{where}: ES256 needs a P-256 key, not {key.curve.name}")
        return "ES"
    raise ValueError(f"{where}: the JWT public key must be an RSA or EC (P-256) public key")


def _pem_keys(pem: str) -> dict[str, list[Any]]:
    """Every public key (or certificate) in a PEM file; several allow rotation without a kid."""
    keys: dict[str, list[Any]] = {}
    blocks = _pem_blocks(pem)
    if not blocks:
        raise ValueError("the JWT public key file holds no PEM block")
    for kind, block in blocks:
        if kind == "CERTIFICATE":
            key = load_pem_x509_certificate(block).public_key()
        elif kind == "PUBLIC KEY" or kind == "RSA PUBLIC KEY":
            key = load_pem_public_key(block)
        else:
            raise ValueError(f"the JWT public key file must hold public keys, not a {kind!r} block")
        keys.setdefault(_family_of(key, "JWT public key file"), []).append(key)
    return keys


def _pem_blocks(text: str) -> list[tuple[str, bytes]]:
    blocks: list[tuple[str, bytes]] = []
    kind: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("-----BEGIN ") and stripped.endswith("-----"):
            kind, lines = stripped[11:-5], [stripped]
        elif kind is not None:
            lines.append(stripped)
            if stripped == f"-----END {kind}-----":
                blocks.append((kind, ("\n".join(lines) + "\n").encode()))
                kind = None
    return blocks


class JwksUrl:
    """The keys of a JWKS URL (an identity provider's `jwks_uri`), fetched with PyJWT's `PyJWKClient` in a
    thread of their own, never on the event loop: at start (a server that cannot read them does not start),
    every `refresh_s`, and when a token names a kid the set lacks (`ask`: a key was rotated in), at most once
    per `min_refetch_s`, so tokens with made-up kids cannot make the server hammer the provider. A failed
    refresh keeps the keys it had. The token naming a new kid is refused until its key has arrived."""

    def __init__(self, url: str, refresh_s: float = 300.0, min_refetch_s: float = 30.0, timeout_s: float = 10.0
                 ) -> None:
        self.url = url
        self.client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)
        self.refresh_s, self.min_refetch_s = refresh_s, min_refetch_s
        try:
            self.keys = self._fetch()
        except Exception as exc:  # PyJWKClientError, a JWKS this server cannot use (ValueError)
            raise ValueError(f"cannot read the JWKS at {url}: {exc}") from None
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._run, name="jwks-refresh", daemon=True).start()

    def ask(self) -> None:
        self._wanted.set()

    def close(self) -> None:
        self._stopped.set()
        self._wanted.set()

    def _fetch(self) -> dict[str, tuple[str, Any]]:
        return _jwks(self.client.fetch_data())

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wanted.wait(self.refresh_s)
            if self._stopped.is_set():
                return
            self._wanted.clear()
            try:
                self.keys = self._fetch()  # (one assignment: readers see the old set or the new one)
            except Exception as exc:
                log.warning("JWKS refresh from %s failed, keeping %d keys: %s", self.url, len(self.keys), exc)
            self._stopped.wait(self.min_refetch_s)


def _jwks(document: str | Any) -> dict[str, tuple[str, Any]]:
    """kid → (family, public key) for every key this server can use.

    An identity provider's JWKS often holds more than that (encryption keys, PS256 or ES384 keys for other
    services): those are skipped, so tokens naming them are refused. A key whose declared `alg` is one of
    ours but does not fit the key, a weak RSA key, or a duplicate kid is a configuration error.
    """
    keys: dict[str, tuple[str, Any]] = {}
    if isinstance(document, str):
        document = json.loads(document)
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS file must be an object with a 'keys' array")
    for jwk in entries:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
            continue
        kty = jwk.get("kty")
        if kty == "RSA":
            key = _public(RSAAlgorithm.from_jwk(jwk))
        elif kty == "EC":
            key = _public(ECAlgorithm.from_jwk(jwk))
        else:
            continue
        declared = jwk.get("alg")
        if declared is not None and declared not in _FAMILY:
            continue  # meant for an algorithm this server does not accept
        if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1):
            if declared is None:
                continue  # a P-384/P-521 key (ES384/ES512): not for us
        family = _family_of(key, f"JWKS key {kid!r}")
        if declared is not None and _FAMILY[declared] != family:
            raise ValueError(f"JWKS key {kid!r}: 'alg' {declared!r} does not fit its key type")
        if kid in keys:
            raise ValueError(f"JWKS: the kid {kid!r} appears twice")
        keys[kid] = (family, key)
    return keys


def _number(value: Any) -> float | None:
    """A NumericDate claim as a finite float; None for anything else (an int beyond a double included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _unauthorized(message: str, presented: bool = True) -> ApiError:
    challenge = f'{REALM}, error="invalid_token"' if presented else REALM
    return ApiError(401, "Unauthorized", message, headers={"WWW-Authenticate": challenge})
