"""Web visitors as a brand's website signs them in: an identity hash for a customer id.

Tests play named customers ("alice", "bob") on the web channel; since a visitor is whoever their
signed cookie says, a client becomes one by posting the identity the way the brand's server
would, with the test settings' `web_identity_secret`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from bot.adapters.web_identity import identity_hash

__all__ = ["WEB_IDENTITY_SECRET", "as_visitor", "identity", "visitor_client"]

WEB_IDENTITY_SECRET = "test web identity secret"


def identity(user: str, secret: str = WEB_IDENTITY_SECRET) -> dict[str, str]:
    return {"identifier": user, "identifier_hash": identity_hash(secret, user)}


async def as_visitor(http: httpx.AsyncClient, user: str) -> None:
    """Makes `http` the web visitor `user` from now on (its cookie jar keeps the identity)."""
    response = await http.post("/api/web/visitor", json=identity(user))
    assert response.status_code == 200, response.text


@contextlib.contextmanager
def visitor_client(base_url: str, user: str) -> Iterator[httpx.Client]:
    """A blocking client that is the web visitor `user` on a live server, closed on exit."""
    with httpx.Client(base_url=base_url) as http:
        response = http.post("/api/web/visitor", json=identity(user))
        assert response.status_code == 200, response.text
        yield http
