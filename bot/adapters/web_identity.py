"""Who a web channel visitor is: a server-issued identity in a signed, HttpOnly cookie.

Without it, anyone could read or write any customer's web chat by naming them. Each browser gets
an anonymous id the first time it comes (`v-` and 22 random characters); the id lives only in a
cookie signed with a key derived from the console's session secret (one secret, one owner), so
it cannot be forged or chosen. The cookie is SameSite=Lax, which keeps other sites' pages from
posting as the visitor.

The brand's own website can bind the visitor to its signed-in customer, as Chatwoot's identity
validation does: it sends `identifier` and `identifier_hash` = HMAC-SHA256(web_identity_secret,
identifier) in hex, computed on its server. A valid pair makes `identifier` the visitor's id,
so the customer finds the same conversation on every device. Posting `{}` to the same endpoint
gives a fresh anonymous identity (the brand's site does it when its customer signs out).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from bot.console.auth import session_secret
from bot.errors import Forbidden, InvalidMessage
from bot.settings import Settings

__all__ = ["VISITOR_COOKIE", "Visitor", "Visitors", "identity_hash", "valid_identity"]

VISITOR_COOKIE = "firstline_visitor"
VISITOR_DAYS = 30
"""How long a browser keeps its web identity; a customer's conversation outlives it in the store."""
IDENTIFIER = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Visitor:
    id: str
    verified: bool = False
    """True when the brand's site vouched for `id` with an identity hash."""

    def to_dict(self) -> dict[str, object]:
        return {"user": self.id, "verified": self.verified}


def identity_hash(secret: str, identifier: str) -> str:
    """What the brand's server sends along with `identifier`: HMAC-SHA256, hex."""
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def valid_identity(secret: str, identifier: str, given: str) -> bool:
    if not _HEX_SHA256.match(given):
        return False
    return hmac.compare_digest(identity_hash(secret, identifier), given.lower())


class Visitors:
    """Reads and issues visitor cookies, and checks identity hashes."""

    def __init__(self, secret: str, identity_secret: str | None, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="firstline.web-visitor")
        self._identity_secret = identity_secret
        self._secure = secure

    @classmethod
    def from_settings(cls, settings: Settings) -> Visitors:
        configured = settings.web_identity_secret
        identity = configured.get_secret_value() if configured is not None else ""
        return cls(
            session_secret(settings), identity or None, secure=settings.base_url.startswith("https://")
        )

    def read(self, request: Request) -> Visitor | None:
        """The visitor the request's cookie names, or None when it has no valid one."""
        cookie = request.cookies.get(VISITOR_COOKIE)
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=VISITOR_DAYS * 86400)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        if not IDENTIFIER.match(data["id"]):
            return None
        return Visitor(data["id"], data.get("verified") is True)

    def current(self, request: Request) -> tuple[Visitor, bool]:
        """The request's visitor, or a new anonymous one; True when new (the answer must set it)."""
        found = self.read(request)
        return (found, False) if found is not None else (self.anonymous(), True)

    @staticmethod
    def anonymous() -> Visitor:
        return Visitor(f"v-{secrets.token_urlsafe(16)}")

    def verified(self, raw: object) -> Visitor:
        """The visitor a request to bind an identity asks for: anonymous for `{}`, else the
        customer the brand's site vouched for.

        Raises:
            InvalidMessage: the body is malformed.
            Forbidden: identity validation is not configured, or the hash is wrong.
        """
        if raw is None or raw == {}:
            return self.anonymous()
        if not isinstance(raw, dict) or set(raw) != {"identifier", "identifier_hash"}:
            raise InvalidMessage('the body is {} or {"identifier": ..., "identifier_hash": ...}')
        identifier, given = raw["identifier"], raw["identifier_hash"]
        if not isinstance(identifier, str) or not IDENTIFIER.match(identifier):
            raise InvalidMessage("'identifier' must be 1-64 letters, digits, '.', '_', '@', '+' or '-'")
        if not isinstance(given, str):
            raise InvalidMessage("'identifier_hash' must be a hex string")
        if self._identity_secret is None:
            raise Forbidden("identity validation is not configured on this service")
        if not valid_identity(self._identity_secret, identifier, given):
            raise Forbidden("the identifier_hash does not match the identifier")
        return Visitor(identifier, verified=True)

    def remember(self, response: Response, visitor: Visitor) -> None:
        response.set_cookie(
            VISITOR_COOKIE,
            self._serializer.dumps({"id": visitor.id, "verified": visitor.verified}),
            max_age=VISITOR_DAYS * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )
