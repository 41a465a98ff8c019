"""Web visitor identities: the identity hash the brand's site computes, and the signed cookie."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from bot.adapters.web_identity import VISITOR_COOKIE, Visitor, Visitors, identity_hash, valid_identity
from bot.errors import Forbidden, InvalidMessage

SECRET = "brand secret"


def test_identity_hash_is_hmac_sha256_hex() -> None:
    # As the brand's server computes it: hmac.new(secret, identifier, sha256).hexdigest()
    assert identity_hash("key", "The quick brown fox jumps over the lazy dog") == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


@pytest.mark.parametrize(
    ("identifier", "given", "valid"),
    [
        ("alice", identity_hash(SECRET, "alice"), True),
        ("alice", identity_hash(SECRET, "alice").upper(), True),
        ("alice", identity_hash(SECRET, "bob"), False),
        ("alice", identity_hash("another secret", "alice"), False),
        ("alice", identity_hash(SECRET, "alice")[:-1], False),
        ("alice", "", False),
        ("alice", "z" * 64, False),
    ],
)
def test_valid_identity(identifier: str, given: str, valid: bool) -> None:
    assert valid_identity(SECRET, identifier, given) is valid


def _request(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{VISITOR_COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def _cookie_for(visitors: Visitors, visitor: Visitor) -> str:
    response = Response()
    visitors.remember(response, visitor)
    header = response.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=lax" in header.lower()
    return header.split(";")[0].split("=", 1)[1]


def test_the_cookie_names_the_visitor_it_was_issued_for() -> None:
    visitors = Visitors("session secret", SECRET, secure=False)
    alice = Visitor("alice", verified=True)
    assert visitors.read(_request(_cookie_for(visitors, alice))) == alice
    assert visitors.read(_request(None)) is None


def test_a_forged_or_foreign_cookie_names_nobody() -> None:
    visitors = Visitors("session secret", SECRET, secure=False)
    other_service = Visitors("another session secret", SECRET, secure=False)
    cookie = _cookie_for(other_service, Visitor("alice"))
    assert visitors.read(_request(cookie)) is None
    assert visitors.read(_request(cookie[:-2] + "xx")) is None
    assert visitors.read(_request("alice")) is None


def test_new_visitors_are_anonymous_and_distinct() -> None:
    visitors = Visitors("session secret", None, secure=False)
    first, new = visitors.current(_request(None))
    second, _ = visitors.current(_request(None))
    assert new and first != second and first.id.startswith("v-") and not first.verified


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], InvalidMessage),
        ({"identifier": "alice"}, InvalidMessage),
        ({"identifier": "alice", "identifier_hash": 5}, InvalidMessage),
        ({"identifier": "no spaces", "identifier_hash": identity_hash(SECRET, "no spaces")}, InvalidMessage),
        ({"identifier": "alice", "identifier_hash": identity_hash(SECRET, "bob")}, Forbidden),
        ({"identifier": "alice", "identifier_hash": identity_hash("guess", "alice")}, Forbidden),
    ],
)
def test_a_claimed_identity_needs_the_right_hash(body: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Visitors("session secret", SECRET, secure=False).verified(body)


def test_claimed_identities_are_refused_when_validation_is_not_configured() -> None:
    body = {"identifier": "alice", "identifier_hash": identity_hash("", "alice")}
    with pytest.raises(Forbidden, match="not configured"):
        Visitors("session secret", None, secure=False).verified(body)


def test_a_valid_hash_or_an_empty_body_gives_the_visitor() -> None:
    visitors = Visitors("session secret", SECRET, secure=False)
    body = {"identifier": "alice@example.com", "identifier_hash": identity_hash(SECRET, "alice@example.com")}
    assert visitors.verified(body) == Visitor("alice@example.com", verified=True)
    assert not visitors.verified({}).verified
