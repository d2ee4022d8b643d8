"""The rate limits count the verified token's identity, never the spelling of the Authorization header (issue 19).

A principal is `sub`, else `jti`, else a SHA-256 digest of the token as verified. The scheme is
case-insensitive and any run of spaces may separate it from the token (RFC 7235); the token itself must be the
exact JWS compact form (RFC 7515: base64url without `=` padding, no stray bits), so a padded or otherwise
re-spelled token is a 401, not a fresh bucket. Checked against a real `connect-readings serve`.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from connect_readings.api.auth import mint_token
from connect_readings.cli import main

from ..test_crash_safety import SECRET, Server, serve_command

# One token per 10 s: a loaded CI machine answering six requests in over half a second must not refill the bucket.
RATE, BURST = 0.1, 5
LIST = "/v1/entities"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("ratelimit-identity") / "limits.db"
    command = serve_command() + ["--rate-limit-per-s", f"{RATE:g}", "--rate-limit-burst", str(BURST)]
    with Server(db, command=command) as running:
        yield running


def _token(**extra: Any) -> str:
    """A token as `connect-readings token` minted them before: no `sub`, no `jti` (a nonce keeps each one new)."""
    now = int(time.time())
    body = {"scope": "readings:read", "entities": "*", "iat": now, "exp": now + 3600,
            "nonce": uuid.uuid4().hex, **extra}
    return jwt.encode(body, SECRET, algorithm="HS256")


def _restrung(token: str) -> str:
    """The same signature bytes, spelled differently: the last character's unused low bits set."""
    head, _, signature = token.rpartition(".")
    assert len(signature) % 4 == 3  # 32 bytes → 43 characters, the last carrying 2 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) ^ 1]
    variant = f"{head}.{signature[:-1]}{last}"
    assert base64.urlsafe_b64decode(signature + "=") == base64.urlsafe_b64decode(variant.rpartition(".")[2] + "=")
    return variant


def _refusal(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["code"] == code and errors[0]["message"]
    assert "description" in errors[0]


def test_spellings_of_one_token_share_one_bucket(server: Server) -> None:
    """Flood with every spelling of one token for about a second: at most burst + rate·t are answered."""
    token = _token()
    # 4 cases × 1..40 spaces: 160 accepted spellings (each was a fresh bucket), plus 3 re-spelled tokens
    accepted = [f"{scheme}{' ' * spaces}{token}" for spaces in range(1, 41)
                for scheme in ("Bearer", "bearer", "BEARER", "bEaReR")]
    respelled = [f"Bearer {token}=", f"Bearer {token}==", f"Bearer {_restrung(token)}"]
    headers = [header for i, header in enumerate(accepted) for header in
               ((header, respelled[(i // 3) % 3]) if i % 3 == 0 else (header,))]
    results: list[tuple[str, httpx.Response]] = []
    lock = threading.Lock()
    start = time.monotonic()
    stop = start + 1.0

    def flood(offset: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            i = offset
            while time.monotonic() < stop:
                header = headers[i % len(headers)]
                response = client.get(LIST, headers={"Authorization": header})
                with lock:
                    results.append((header, response))
                i += 1

    threads = [threading.Thread(target=flood, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start

    answered = [r for h, r in results if 200 <= r.status_code < 300]
    limited = [r for h, r in results if r.status_code == 429]
    refused = [(h, r) for h, r in results if r.status_code == 401]
    summary = (f"{len(results)} requests in {elapsed:.2f} s: {len(answered)} answered, {len(limited)} limited (429), "
               f"{len(refused)} refused (401)")
    print(summary)
    assert len(results) >= 50, summary  # it really was a flood
    assert len(answered) <= BURST + RATE * elapsed + 1, summary
    assert len(answered) >= BURST, summary
    assert len(answered) + len(limited) + len(refused) == len(results), summary
    for response in limited:
        _refusal(response, 429, "TooManyRequests")
        assert int(response.headers["retry-after"]) >= 1
    for header, response in refused:
        assert header in respelled, header
        _refusal(response, 401, "Unauthorized")
        assert "well-formed" in response.json()["errors"][0]["message"]
    # every re-spelled form was tried, and every one was refused, never counted as another principal
    assert {h for h, _ in refused} == set(respelled), summary


def test_tokens_without_sub_or_jti_are_separate_principals(server: Server) -> None:
    first, second = _token(), _token()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        statuses = [client.get(LIST, headers={"Authorization": f"Bearer {first}"}).status_code
                    for _ in range(BURST + 1)]
        assert statuses[:BURST] == [200] * BURST and statuses[-1] == 429
        assert client.get(LIST, headers={"Authorization": f"bearer  {first}"}).status_code == 429
        assert client.get(LIST, headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_a_jti_is_the_principal_when_there_is_no_sub(server: Server) -> None:
    jti = uuid.uuid4().hex
    one, other = _token(jti=jti), _token(jti=jti)  # two tokens (different nonces), one id
    assert one != other
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(BURST):
            assert client.get(LIST, headers={"Authorization": f"Bearer {one}"}).status_code == 200
        assert client.get(LIST, headers={"Authorization": f"Bearer {other}"}).status_code == 429
        assert client.get(LIST, headers={"Authorization": f"Bearer {_token(jti=jti + 'x')}"}).status_code == 200


def test_a_sub_wins_over_a_jti(server: Server) -> None:
    sub = f"user-{uuid.uuid4().hex}"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(BURST):
            response = client.get(LIST, headers={"Authorization": f"Bearer {_token(sub=sub, jti=uuid.uuid4().hex)}"})
            assert response.status_code == 200
        assert client.get(LIST, headers={"Authorization": f"Bearer {_token(sub=sub)}"}).status_code == 429


# -- what `connect-readings token` and `demo` mint ---------------------------------------------------------
def test_minted_tokens_carry_a_subject_of_their_own() -> None:
    secret = "m" * 32
    first, second = (jwt.decode(mint_token(secret, "*", "readings:read", 60), secret, algorithms=["HS256"])
                     for _ in range(2))
    assert first["sub"].startswith("connect-readings-cli:") and second["sub"].startswith("connect-readings-cli:")
    assert first["sub"] != second["sub"]


def test_the_token_command_mints_a_subject(tmp_path: Path) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["token", "--all", "--jwt-secret", SECRET], catch_exceptions=False)
    assert result.exit_code == 0
    claims = jwt.decode(result.output.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"].startswith("connect-readings-cli:") and len(claims["sub"]) > len("connect-readings-cli:")
