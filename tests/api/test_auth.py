"""Access control (semantics.md §8): every way a token can be wrong is refused, and valid ones work.

Keys are generated here with `cryptography`; tokens are minted with PyJWT or, for the forgeries PyJWT
refuses to produce (alg none, HMAC keyed with a public key), by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.testclient import TestClient

from connect_readings.api import auth as auth_module
from connect_readings.api.app import create_app
from connect_readings.api.auth import Authenticator
from connect_readings.config import Settings
from connect_readings.storage.sqlite import SQLiteStore

from ..conftest import ENTITY, OTHER, SECRET, ApiClient, energy, make_token

BASE = f"/v1/entities/{ENTITY}/readings"
ALL = "readings:read readings:write"


# -- keys and token forging --------------------------------------------------------------------------
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(private_key: Any) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _jwk(private_key: Any, kid: str, public: bool = True) -> dict[str, Any]:
    key = private_key.public_key() if public else private_key
    algo = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = json.loads(algo.to_jwk(key))
    jwk["kid"] = kid
    return jwk


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa1": _rsa(), "rsa2": _rsa(), "rsa_attacker": _rsa(),
        "ec1": ec.generate_private_key(ec.SECP256R1()), "ec2": ec.generate_private_key(ec.SECP256R1()),
        "ec384": ec.generate_private_key(ec.SECP384R1()),
    }


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {"scope": ALL, "entities": "*", "iat": now, "exp": now + 600}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def sign(key: Any, alg: str, kid: str | None = None, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    extra = dict(headers or {})
    if kid is not None:
        extra["kid"] = kid
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=extra or None)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{_b64(signature)}"


def forge_signed(header: dict[str, Any], payload: dict[str, Any], key: Any, alg: str) -> str:
    """A correctly signed token with a header or claims PyJWT would refuse to encode."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
    return f"{signing_input}.{_b64(signature)}"


def forge_hmac(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


# -- clients on differently configured apps ------------------------------------------------------------
def _client(tmp_path: Path, **settings: Any) -> TestClient:
    db = str(tmp_path / f"auth-{uuid.uuid4().hex[:8]}.db")
    app = create_app(Settings(database=db, **settings), SQLiteStore(db))
    client = ApiClient(app)
    client.token = ""
    return client


def _write_file(tmp_path: Path, name: str, content: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _seed(client: ApiClient) -> None:
    """One reading for ENTITY, written with an HS256 token (the app's own secret must be configured)."""
    response = client.post(BASE, json={"data": [energy("2024-05-27T13:00:00Z", 1)]},
                           headers={"Authorization": f"Bearer {make_token()}"})
    assert response.status_code == 200, response.text


def _get(client: TestClient, token: str | None, url: str = f"{BASE}/last") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get(url, headers=headers)


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["code"] == "Unauthorized"


@pytest.fixture
def rsa_client(tmp_path: Path, keys: dict[str, Any]) -> Iterator[ApiClient]:
    """RS256 from a PEM file and the test HS256 secret (both configured, as a mixed deployment would)."""
    pem = _write_file(tmp_path, "rsa.pem", _pem(keys["rsa1"]))
    with _client(tmp_path, jwt_secret=SECRET, jwt_public_key_file=pem) as client:
        _seed(client)
        yield client


# -- refusals -----------------------------------------------------------------------------------------
def test_no_token(client: ApiClient) -> None:
    client.token = ""
    for method, url in [("GET", f"{BASE}/last"), ("GET", BASE + "?start=2024-01-01T00:00:00Z"),
                        ("POST", BASE), ("GET", f"/v1/entities/{ENTITY}/aggregations?start=2024-01-01&resolution=1h"),
                        ("GET", f"/v1/entities/{ENTITY}/aggregations/total?start=2024-01-01")]:
        response = client.request(method, url)
        assert_401(response)
        assert "error=" not in response.headers["www-authenticate"]  # RFC 6750: no error code without a token


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer    ", "Token abc", "bearer", "BearerX abc",
    "Bearer not-a-jwt", "Bearer a.b", "Bearer a.b.c", "Bearer a.b.c.d", "Bearer ....", "Bearer e30.e30.",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30", "Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
    "Bearer bm90IGpzb24.e30.c2ln", "Bearer W10.e30.c2ln", "Bearer one two", "Bearer " + "A" * 8000,
    "Bearer %00%00.%00.%00",
])
def test_malformed_authorization_header(client: ApiClient, header: str) -> None:
    assert_401(client.get(f"{BASE}/last", headers={"Authorization": header}))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", None])
def test_alg_none_is_refused(client: ApiClient, alg: str | None) -> None:
    header = {"typ": "JWT"} if alg is None else {"alg": alg, "typ": "JWT"}
    for signature in (b"", b"anything"):
        assert_401(_get(client, forge(header, claims(), signature)))


def test_alg_none_is_refused_even_if_configured(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported JWT algorithm"):
        create_app(Settings(database=str(tmp_path / "x.db"), jwt_secret=SECRET, jwt_algorithms=("HS256", "none")))


@pytest.mark.parametrize("alg", ["HS384", "HS512", "RS384", "PS256", "ES384", "EdDSA"])
def test_algorithms_outside_the_allow_list(client: ApiClient, keys: dict[str, Any], alg: str) -> None:
    key = {"HS": SECRET * 2, "RS": keys["rsa1"], "PS": keys["rsa1"], "ES": keys["ec384"]}.get(alg[:2])
    if alg == "EdDSA":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
    assert_401(_get(client, sign(key, alg)))


def test_hs256_signed_with_the_rsa_public_key_is_refused(tmp_path: Path, keys: dict[str, Any]) -> None:
    """The classic key-confusion attack: the public key's PEM bytes used as an HMAC secret."""
    pem_bytes = _pem(keys["rsa1"])
    pem = _write_file(tmp_path, "rsa.pem", pem_bytes)
    variants = [pem_bytes, pem_bytes.strip(), pem_bytes.decode().replace("\n", "\r\n").encode()]
    # RS256 only (HS256 allowed but no secret), and a mixed deployment with a real HS256 secret.
    for settings in ({"jwt_public_key_file": pem},
                     {"jwt_public_key_file": pem, "jwt_secret": SECRET},
                     {"jwt_public_key_file": pem, "jwt_algorithms": ("RS256",)}):
        with _client(tmp_path, **settings) as client:
            good = sign(keys["rsa1"], "RS256")
            assert _get(client, good).status_code == 404  # the RS256 token itself is fine (no data yet)
            for secret in variants:
                for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256"}, {"alg": "HS256", "kid": "x"}):
                    assert_401(_get(client, forge_hmac(header, claims(), secret)))


def test_expired(client: ApiClient) -> None:
    now = int(time.time())
    assert_401(_get(client, make_token(ttl=-3600)))
    response = _get(client, jwt.encode(claims(exp=now - 120), SECRET, algorithm="HS256"))
    assert_401(response)
    assert "expired" in response.json()["errors"][0]["message"]
    # inside the 30 s leeway a just-expired token still works (clock skew), beyond it not
    assert _get(client, jwt.encode(claims(exp=now - 5), SECRET, algorithm="HS256")).status_code == 404


def test_missing_or_non_numeric_exp(client: ApiClient) -> None:
    for exp in (None, "9999999999", "never", True, [1], 1e400):
        body = claims()
        body.pop("exp")
        if exp is not None:
            body["exp"] = exp
        token = forge_hmac({"alg": "HS256", "typ": "JWT"}, body, SECRET.encode()) if exp == 1e400 else \
            jwt.encode(body, SECRET, algorithm="HS256")
        assert_401(_get(client, token))


# NumericDate claims beyond a double (or not finite) are a 401, never a 500 (issue 10).
@pytest.mark.parametrize(("claim", "value"), [
    ("exp", 10**400), ("exp", -(10**400)), ("exp", math.nan), ("exp", math.inf),
    ("nbf", 10**400), ("nbf", -(10**400)), ("nbf", math.nan), ("nbf", -math.inf),
    ("iat", 10**400), ("iat", -(10**400)), ("iat", math.nan), ("iat", -math.inf), ("iat", "yesterday"),
], ids=lambda value: str(value)[:8])
def test_numeric_claims_out_of_range(client: ApiClient, claim: str, value: Any) -> None:
    token = forge_hmac({"alg": "HS256", "typ": "JWT"}, claims(**{claim: value}), SECRET.encode())
    response = _get(client, token)
    assert_401(response)
    assert "Traceback" not in response.text and "float" not in response.text


def test_not_yet_valid(client: ApiClient) -> None:
    now = int(time.time())
    response = _get(client, jwt.encode(claims(nbf=now + 3600), SECRET, algorithm="HS256"))
    assert_401(response)
    assert "not valid yet" in response.json()["errors"][0]["message"]
    assert_401(_get(client, jwt.encode(claims(iat=now + 3600), SECRET, algorithm="HS256")))
    assert_401(_get(client, jwt.encode(claims(nbf="tomorrow"), SECRET, algorithm="HS256")))


def test_cached_token_still_expires() -> None:
    """Verified tokens are cached; the cache must not outlive exp."""
    authenticator = Authenticator(secret=SECRET, leeway_s=0)
    exp = int(time.time()) + 2
    token = jwt.encode(claims(exp=exp), SECRET, algorithm="HS256")
    assert authenticator.authenticate(f"Bearer {token}").entities is None
    assert authenticator.authenticate(f"Bearer {token}").entities is None  # from the cache
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(auth_module.ApiError) as refused:
        authenticator.authenticate(f"Bearer {token}")
    assert refused.value.status == 401


@pytest.mark.parametrize(("configured", "token_claims", "ok"), [
    ({"jwt_issuer": "https://idp.example"}, {"iss": "https://idp.example"}, True),
    ({"jwt_issuer": "https://idp.example"}, {"iss": "https://evil.example"}, False),
    ({"jwt_issuer": "https://idp.example"}, {"iss": "https://idp.example/"}, False),
    ({"jwt_issuer": "https://idp.example"}, {"iss": ["https://idp.example"]}, False),
    ({"jwt_issuer": "https://idp.example"}, {"iss": 42}, False),
    ({"jwt_issuer": "https://idp.example"}, {}, False),
    ({"jwt_audience": "connect-readings"}, {"aud": "connect-readings"}, True),
    ({"jwt_audience": "connect-readings"}, {"aud": ["other", "connect-readings"]}, True),
    ({"jwt_audience": "connect-readings"}, {"aud": "other"}, False),
    ({"jwt_audience": "connect-readings"}, {"aud": ["other"]}, False),
    ({"jwt_audience": "connect-readings"}, {"aud": "connect-readings-admin"}, False),
    ({"jwt_audience": "connect-readings"}, {}, False),
    ({}, {"iss": "anyone", "aud": "anything"}, True),  # not configured: not enforced
])
def test_issuer_and_audience(tmp_path: Path, configured: dict[str, str], token_claims: dict[str, Any], ok: bool) -> None:
    with _client(tmp_path, jwt_secret=SECRET, **configured) as client:
        response = _get(client, forge_signed({"alg": "HS256", "typ": "JWT"}, claims(**token_claims), SECRET, "HS256"))
        if ok:
            assert response.status_code == 404  # authenticated; the entity has no data
        else:
            assert_401(response)


def test_tampered_payload_and_signature(client: ApiClient) -> None:
    client.token = ""
    _seed(client)
    token = make_token(entities=[str(OTHER)], scope="readings:read")
    header, payload, signature = token.split(".")
    widened = _b64(json.dumps(claims(entities="*", scope=ALL)).encode())
    flipped_sig = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    flipped_payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for bad in (f"{header}.{widened}.{signature}", f"{header}.{payload}.{flipped_sig}",
                f"{header}.{flipped_payload}.{signature}", f"{header}.{payload}.", f"{header}.{payload}",
                f"{header}.{payload}.{signature}{signature}", f"{header}.{widened}.{_b64(b'')}"):
        assert_401(_get(client, bad))
    assert _get(client, token).status_code == 404  # the untampered one authenticates (and sees nothing)


def test_missing_scope_is_403(client: ApiClient) -> None:
    client.token = ""
    _seed(client)
    for scope in ("", "readings:write", "readings:reader", "READINGS:READ", "readings:read:all"):
        response = _get(client, make_token(scope=scope))
        assert response.status_code == 403, scope
        assert response.json()["errors"][0]["code"] == "Forbidden"
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    for scope in ("", "readings:read", "readings:readings:write"):
        response = client.post(BASE, json={"data": [energy("2024-05-27T13:00:00Z", 1)]},
                               headers={"Authorization": f"Bearer {make_token(scope=scope)}"})
        assert response.status_code == 403
    # scope as a JSON list is accepted too
    assert _get(client, make_token(scope=["readings:read"])).status_code == 200  # type: ignore[arg-type]


def test_scope_is_checked_before_entity_and_parameters(client: ApiClient) -> None:
    client.token = ""
    # no such entity, bad parameters: still 403 first (order: 401, 403, 404, 400)
    response = client.get(f"/v1/entities/{OTHER}/aggregations", params={"resolution": "nope"},
                          headers={"Authorization": f"Bearer {make_token(scope='readings:write')}"})
    assert response.status_code == 403


def test_entity_outside_token_is_indistinguishable_from_unknown(client: ApiClient) -> None:
    client.token = ""
    _seed(client)
    restricted = make_token(entities=[str(OTHER)])
    malformed_list = make_token(entities=[1, None, "not-a-uuid", {"id": str(ENTITY)}])  # type: ignore[list-item]
    unknown_entity = uuid.UUID("99999999-9999-4999-8999-999999999999")
    queries = [
        ("GET", "/readings/last", {}),
        ("GET", "/readings", {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}),
        ("GET", "/aggregations", {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "1 hour"}),
        ("GET", "/aggregations/total", {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}),
        ("GET", "/readings", {"start": "bad"}),  # parameters are checked after access
    ]
    for method, suffix, params in queries:
        hidden = client.request(method, f"/v1/entities/{ENTITY}{suffix}", params=params,
                                headers={"Authorization": f"Bearer {restricted}"})
        unknown = client.request(method, f"/v1/entities/{unknown_entity}{suffix}", params=params,
                                 headers={"Authorization": f"Bearer {make_token()}"})
        garbage = client.request(method, f"/v1/entities/{ENTITY}{suffix}", params=params,
                                 headers={"Authorization": f"Bearer {malformed_list}"})
        visible = client.request(method, f"/v1/entities/{ENTITY}{suffix}", params=params,
                                 headers={"Authorization": f"Bearer {make_token(entities=[str(ENTITY)])}"})
        assert hidden.status_code == unknown.status_code == garbage.status_code == 404, suffix
        assert hidden.content == unknown.content == garbage.content
        assert _comparable(hidden.headers) == _comparable(unknown.headers)
        assert visible.status_code in (200, 400)
    # writing to an entity outside the token is refused the same way, and writes nothing
    response = client.post(f"/v1/entities/{ENTITY}/readings", json={"data": [energy("2024-06-01T00:00:00Z", 9)]},
                           headers={"Authorization": f"Bearer {restricted}"})
    assert response.status_code == 404 and response.content == hidden.content
    last = _get(client, make_token())
    assert last.json()["timestamp"] == "2024-05-27T13:00:00Z"


def _comparable(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in {"date", "x-request-id"}}  # both differ per request


# -- acceptance: RS256 / ES256, PEM and JWKS, rotation by kid -------------------------------------------
def test_rs256_from_pem(rsa_client: ApiClient, keys: dict[str, Any]) -> None:
    assert _get(rsa_client, sign(keys["rsa1"], "RS256")).status_code == 200
    assert _get(rsa_client, sign(keys["rsa1"], "RS256", kid="whatever")).status_code == 200
    assert_401(_get(rsa_client, sign(keys["rsa2"], "RS256")))  # another RSA key
    assert_401(_get(rsa_client, sign(keys["ec1"], "ES256")))  # no EC key configured


def test_pem_file_with_several_keys_and_a_certificate(tmp_path: Path, keys: dict[str, Any]) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(keys["rsa2"].public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(keys["rsa2"], hashes.SHA256()))
    pem = _pem(keys["rsa1"]) + cert.public_bytes(serialization.Encoding.PEM) + _pem(keys["ec1"])
    with _client(tmp_path, jwt_public_key_file=_write_file(tmp_path, "keys.pem", pem)) as client:
        for key, alg in ((keys["rsa1"], "RS256"), (keys["rsa2"], "RS256"), (keys["ec1"], "ES256")):
            assert _get(client, sign(key, alg)).status_code == 404  # authenticated
        assert_401(_get(client, sign(keys["rsa_attacker"], "RS256")))
        assert_401(_get(client, sign(keys["ec2"], "ES256")))


def test_es256_from_pem(tmp_path: Path, keys: dict[str, Any]) -> None:
    pem = _write_file(tmp_path, "ec.pem", _pem(keys["ec1"]))
    with _client(tmp_path, jwt_public_key_file=pem) as client:
        assert _get(client, sign(keys["ec1"], "ES256")).status_code == 404
        assert_401(_get(client, sign(keys["ec2"], "ES256")))
        assert_401(_get(client, sign(keys["rsa1"], "RS256")))
        assert_401(_get(client, sign(SECRET, "HS256")))  # no HS256 secret configured


def test_jwks_two_keys_and_rotation_by_kid(tmp_path: Path, keys: dict[str, Any]) -> None:
    jwks = {"keys": [_jwk(keys["rsa1"], "2024-01"), _jwk(keys["rsa2"], "2024-07"), _jwk(keys["ec1"], "ec-1")]}
    path = _write_file(tmp_path, "jwks.json", json.dumps(jwks))
    with _client(tmp_path, jwt_jwks_file=path) as client:
        assert _get(client, sign(keys["rsa1"], "RS256", kid="2024-01")).status_code == 404
        assert _get(client, sign(keys["rsa2"], "RS256", kid="2024-07")).status_code == 404
        assert _get(client, sign(keys["ec1"], "ES256", kid="ec-1")).status_code == 404
        assert_401(_get(client, sign(keys["rsa2"], "RS256", kid="2024-01")))  # kid names another key
        assert_401(_get(client, sign(keys["rsa1"], "RS256", kid="2023-01")))  # unknown kid
        assert_401(_get(client, sign(keys["rsa1"], "RS256")))  # no kid, two RSA keys: ambiguous
        assert _get(client, sign(keys["ec1"], "ES256")).status_code == 404  # no kid, the only EC key
        assert_401(_get(client, sign(keys["ec1"], "ES256", kid="2024-01")))  # ES256 token, RSA key
        assert_401(_get(client, sign(keys["rsa1"], "RS256", kid="ec-1")))  # RS256 token, EC key
        for weird in ("../../etc/passwd", "' OR 1=1 --", "\u0000", "x" * 5000):
            assert_401(_get(client, sign(keys["rsa1"], "RS256", kid=weird)))
        for kid in (7, None, ["2024-01"], {"kid": "2024-01"}, True):
            header = {"alg": "RS256", "typ": "JWT", "kid": kid}
            assert_401(_get(client, forge_signed(header, claims(), keys["rsa1"], "RS256")))
    # rotation: the old key is retired from the JWKS file; tokens signed with it stop working
    rotated = _write_file(tmp_path, "jwks2.json", json.dumps({"keys": [_jwk(keys["rsa2"], "2024-07")]}))
    with _client(tmp_path, jwt_jwks_file=rotated) as client:
        assert _get(client, sign(keys["rsa2"], "RS256", kid="2024-07")).status_code == 404
        assert _get(client, sign(keys["rsa2"], "RS256")).status_code == 404  # the one RSA key, no kid
        assert_401(_get(client, sign(keys["rsa1"], "RS256", kid="2024-01")))


class JwksServer:
    """A real HTTP server on 127.0.0.1 answering GET /jwks.json with `document` (changeable), counting requests."""

    def __init__(self, document: dict[str, Any]) -> None:
        import http.server
        import threading

        self.document, self.requests = document, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                outer.requests += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_jwks_url_keys_rotate_without_a_restart(keys: dict[str, Any]) -> None:
    """A provider's JWKS URL (PyJWKClient over real HTTP): read at start; a token naming a kid the set lacks is
    refused and makes the set be read again (off the caller's thread), after which that kid is accepted; a kid
    retired from the set stops working at the next read; made-up kids cannot make it read more than once per
    `min_refetch_s`."""
    from connect_readings.api.auth import Authenticator, JwksUrl
    from connect_readings.api.errors import ApiError

    server = JwksServer({"keys": [_jwk(keys["rsa1"], "2024-01")]})
    url = JwksUrl(server.url, refresh_s=3600, min_refetch_s=0.3)
    try:
        auth = Authenticator(jwks_url=url)
        assert server.requests == 1 and set(url.keys) == {"2024-01"}
        assert auth.authenticate("Bearer " + sign(keys["rsa1"], "RS256", kid="2024-01")).scopes
        server.document = {"keys": [_jwk(keys["rsa2"], "2024-07")]}  # rotated at the provider
        new = "Bearer " + sign(keys["rsa2"], "RS256", kid="2024-07")
        with pytest.raises(ApiError) as refused:
            auth.authenticate(new)
        assert refused.value.status == 401
        deadline = time.monotonic() + 5
        while "2024-07" not in url.keys and time.monotonic() < deadline:
            time.sleep(0.02)
        assert auth.authenticate(new).scopes and set(url.keys) == {"2024-07"}
        with pytest.raises(ApiError):  # the retired key
            auth.authenticate("Bearer " + sign(keys["rsa1"], "RS256", kid="2024-01", sub="other"))
        time.sleep(0.4)
        before = server.requests
        for k in range(50):  # made-up kids, as fast as they come
            with pytest.raises(ApiError):
                auth.authenticate("Bearer " + sign(keys["rsa_attacker"], "RS256", kid=f"made-up-{k}"))
        time.sleep(0.5)
        assert 1 <= server.requests - before <= 3
    finally:
        url.close()
        server.close()


def test_jwks_url_through_the_app_and_an_unreadable_url_stops_it(tmp_path: Path, keys: dict[str, Any]) -> None:
    server = JwksServer({"keys": [_jwk(keys["ec1"], "ec-1")]})
    try:
        with _client(tmp_path, jwt_jwks_url=server.url) as client:
            assert _get(client, sign(keys["ec1"], "ES256", kid="ec-1")).status_code == 404  # authenticated
            assert_401(_get(client, sign(keys["ec2"], "ES256", kid="ec-1")))
            assert_401(_get(client, sign(SECRET, "HS256")))  # keys configured: no generated secret
    finally:
        server.close()
    with pytest.raises(ValueError, match="cannot read the JWKS at http://127.0.0.1:9/"):
        _client(tmp_path, jwt_jwks_url="http://127.0.0.1:9/jwks.json")


def test_jwks_with_private_members_only_keeps_public_keys(tmp_path: Path, keys: dict[str, Any]) -> None:
    path = _write_file(tmp_path, "jwks.json", json.dumps({"keys": [_jwk(keys["rsa1"], "a", public=False)]}))
    with _client(tmp_path, jwt_jwks_file=path) as client:
        assert _get(client, sign(keys["rsa1"], "RS256", kid="a")).status_code == 404
        assert_401(_get(client, sign(keys["rsa2"], "RS256", kid="a")))


def test_jwks_keys_for_other_uses_are_skipped(tmp_path: Path, keys: dict[str, Any]) -> None:
    """An IdP's JWKS may hold keys this server cannot use; they are skipped, and tokens naming them refused."""
    jwks = {"keys": [
        _jwk(keys["rsa1"], "sig"),
        {**_jwk(keys["rsa2"], "enc"), "use": "enc"},
        {**_jwk(keys["rsa2"], "ps"), "alg": "PS256"},
        _jwk(keys["ec384"], "p384"),
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    ]}
    with _client(tmp_path, jwt_jwks_file=_write_file(tmp_path, "jwks.json", json.dumps(jwks))) as client:
        assert _get(client, sign(keys["rsa1"], "RS256", kid="sig")).status_code == 404
        assert _get(client, sign(keys["rsa1"], "RS256")).status_code == 404  # the one usable RSA key
        assert_401(_get(client, sign(keys["rsa2"], "RS256", kid="enc")))
        assert_401(_get(client, sign(keys["rsa2"], "RS256", kid="ps")))
        assert_401(_get(client, forge_signed({"alg": "ES256", "kid": "p384"}, claims(), keys["ec384"], "ES384")))
        assert_401(_get(client, forge_hmac({"alg": "HS256", "kid": "sym"}, claims(), b"secret")))


def test_keys_embedded_in_the_token_are_ignored(tmp_path: Path, keys: dict[str, Any]) -> None:
    """jwk / jku / x5u headers must never supply the verification key."""
    path = _write_file(tmp_path, "jwks.json", json.dumps({"keys": [_jwk(keys["rsa1"], "good")]}))
    attacker_jwk = _jwk(keys["rsa_attacker"], "good")
    with _client(tmp_path, jwt_jwks_file=path) as client:
        for headers in ({"jwk": attacker_jwk}, {"jku": "http://127.0.0.1:1/jwks.json"},
                        {"x5u": "http://127.0.0.1:1/cert.pem"}, {"jwk": attacker_jwk, "kid": "good"}):
            assert_401(_get(client, sign(keys["rsa_attacker"], "RS256", headers=headers)))


@pytest.mark.parametrize("problem", ["short-secret", "small-rsa", "p384-for-es256", "jwks-alg-mismatch",
                                      "private-pem", "bad-jwks"])
def test_unsafe_key_configuration_is_refused_at_start(tmp_path: Path, keys: dict[str, Any], problem: str) -> None:
    settings: dict[str, Any] = {}
    if problem == "short-secret":
        settings["jwt_secret"] = "secret"
    elif problem == "small-rsa":
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        settings["jwt_public_key_file"] = _write_file(tmp_path, "small.pem", _pem(small))
    elif problem == "p384-for-es256":
        settings["jwt_public_key_file"] = _write_file(tmp_path, "p384.pem", _pem(keys["ec384"]))
    elif problem == "jwks-alg-mismatch":
        jwk = {**_jwk(keys["rsa1"], "a"), "alg": "ES256"}
        settings["jwt_jwks_file"] = _write_file(tmp_path, "jwks.json", json.dumps({"keys": [jwk]}))
    elif problem == "private-pem":
        private = keys["rsa1"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        settings["jwt_public_key_file"] = _write_file(tmp_path, "private.pem", private)
    else:
        settings["jwt_jwks_file"] = _write_file(tmp_path, "jwks.json", "[1, 2]")
    with pytest.raises(ValueError):
        create_app(Settings(database=str(tmp_path / "x.db"), **settings))


def test_algorithm_allow_list_restricts(tmp_path: Path, keys: dict[str, Any]) -> None:
    pem = _write_file(tmp_path, "rsa.pem", _pem(keys["rsa1"]))
    with _client(tmp_path, jwt_secret=SECRET, jwt_public_key_file=pem, jwt_algorithms=("RS256",)) as client:
        assert _get(client, sign(keys["rsa1"], "RS256")).status_code == 404
        assert_401(_get(client, sign(SECRET, "HS256")))  # a valid HS256 token, but HS256 is not allowed


def test_settings_from_env(tmp_path: Path, keys: dict[str, Any]) -> None:
    pem = _write_file(tmp_path, "ec.pem", _pem(keys["ec1"]))
    jwks = _write_file(tmp_path, "jwks.json", json.dumps({"keys": [_jwk(keys["rsa1"], "k1")]}))
    settings = Settings.from_env({
        "CONNECT_READINGS_DATABASE": str(tmp_path / "env.db"),
        "CONNECT_READINGS_JWT_PUBLIC_KEY_FILE": pem, "CONNECT_READINGS_JWT_JWKS_FILE": jwks,
        "CONNECT_READINGS_JWT_ISSUER": "https://idp", "CONNECT_READINGS_JWT_AUDIENCE": "api",
        "CONNECT_READINGS_JWT_ALGORITHMS": "RS256, ES256",
    })
    assert settings.jwt_algorithms == ("RS256", "ES256")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        ok = {"iss": "https://idp", "aud": "api"}
        assert _get(client, sign(keys["rsa1"], "RS256", kid="k1", **ok)).status_code == 404
        assert _get(client, sign(keys["ec1"], "ES256", **ok)).status_code == 404
        assert _get(client, sign(keys["ec1"], "ES256", iss="https://idp")).status_code == 401
        assert _get(client, sign(keys["ec1"], "ES256", aud="api")).status_code == 401


# -- tokens never reach the logs ------------------------------------------------------------------------
def test_tokens_never_appear_in_app_logs(client: ApiClient, caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    client.token = ""
    valid = make_token()
    expired = make_token(ttl=-3600)
    tampered = valid[:-4] + "AAAA"
    caplog.set_level(logging.DEBUG)
    _seed(client)
    for token in (valid, expired, tampered, "garbage-token-value"):
        _get(client, token)
        client.get(f"{BASE}?start=nope", headers={"Authorization": f"Bearer {token}"})
    # an unexpected error is logged with its traceback: the token must not be in it either
    store = client.app.state.api.store  # type: ignore[attr-defined]

    def boom(*args: Any) -> Any:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(store, "last_reading", boom)
    # (the plain test client: a 500 is not in the document, so the validating client would object)
    response = TestClient.request(client, "GET", f"{BASE}/last", headers={"Authorization": f"Bearer {valid}"})
    assert response.status_code == 500 and response.json()["errors"][0]["code"] == "InternalError"
    assert "simulated failure" in caplog.text  # the logs were captured
    for token in (valid, expired, tampered, "garbage-token-value"):
        for part in {token, token.split(".")[-1]} - {""}:
            assert part not in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tokens_never_appear_in_server_logs_with_access_log(tmp_path: Path) -> None:
    """The real server with uvicorn's access log on, at debug level: request lines appear, tokens never."""
    port = _free_port()
    env = {**os.environ, "CONNECT_READINGS_DATABASE": str(tmp_path / "srv.db"), "CONNECT_READINGS_JWT_SECRET": SECRET}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "connect_readings.api.app:app_from_env", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--access-log", "--log-level", "debug"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(base, server)
            valid = make_token()
            tampered = valid[:-4] + "AAAA"
            with httpx.Client(base_url=base, timeout=10) as http:
                for token in (valid, tampered, make_token(ttl=-3600)):
                    http.get(f"{BASE}/last", headers={"Authorization": f"Bearer {token}"})
                    http.post(BASE, json={"data": [energy("2024-05-27T13:00:00Z", 1)]},
                              headers={"Authorization": f"Bearer {token}"})
                http.get(f"{BASE}/last", headers={"Authorization": f"Basic {valid}"})
        finally:
            server.terminate()
            server.wait(timeout=10)
    text = log_path.read_text(errors="replace")
    assert f"GET {BASE}/last" in text and "401" in text  # the access log is there
    for token in (valid, tampered):
        assert token.split(".")[-1] not in text and token not in text


def _wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError("server did not become healthy")
