"""The built-in web channel: a demo page and a JSON API for a brand's website chat.

It needs no accounts, so a newcomer can try Firstline in a browser, and tests can drive the whole
pipeline over plain HTTP. Replies are "delivered" by being stored; the page polls for them.

Who the customer is comes from the visitor's signed cookie (`bot.adapters.web_identity`), never
from the body: a `user` field, if sent, must name that visitor. The followers a visitor declares
are capped at `web_audience_cap` (0: ignored), so the body cannot raise a handoff's priority.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bot.adapters.base import BaseAdapter
from bot.errors import Forbidden, InvalidMessage
from bot.input_limits import MAX_STORED_INT
from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.store.spend import SpendLedger

__all__ = ["WebAdapter"]

_USER = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
"""A visitor id: anonymous ones are `v-` and random characters, verified ones the brand's
customer ids (`bot.adapters.web_identity.IDENTIFIER`)."""
_FIELDS = {"user", "text", "public", "message_id", "display_name", "audience", "join"}


class WebAdapter(BaseAdapter):
    name = "web"
    names_from_platform = False
    """`display_name` is whatever the visitor typed: never repeated in a public reply."""

    def __init__(self, base_url: str, max_chars: int, audience_cap: int = 0) -> None:
        self.base_url = base_url
        self.max_chars = max_chars
        self.audience_cap = audience_cap

    @classmethod
    def from_settings(cls, settings: Settings, spend: SpendLedger | None = None) -> WebAdapter:
        return cls(settings.base_url, settings.max_message_chars, settings.web_audience_cap)

    def parse(self, raw: Any, visitor: str | None = None) -> InboundMessage:
        """The body as a message from `visitor` (the cookie's identity); without one (tools and
        unit tests), from the body's `user`.

        Raises:
            InvalidMessage: the body is malformed.
            Forbidden: the body's `user` names someone other than `visitor`.
        """
        if not isinstance(raw, dict):
            raise InvalidMessage("the body must be a JSON object")
        unknown = sorted(set(raw) - _FIELDS)
        if unknown:
            raise InvalidMessage(f"unknown field(s): {', '.join(unknown)}")
        user = raw.get("user", visitor)
        if not isinstance(user, str) or not _USER.match(user):
            raise InvalidMessage("'user' must be 1-64 letters, digits, '.', '_', '@', '+' or '-'")
        if visitor is not None and user != visitor:
            raise Forbidden("'user' is not you: this browser's visitor is someone else")
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidMessage("'text' must be a non-empty string")
        if len(text) > self.max_chars:
            raise InvalidMessage(f"'text' is longer than {self.max_chars} characters")
        public = raw.get("public", False)
        if not isinstance(public, bool):
            raise InvalidMessage("'public' must be true or false")
        message_id = raw.get("message_id") or uuid.uuid4().hex
        if not isinstance(message_id, str) or len(message_id) > 128:
            raise InvalidMessage("'message_id' must be a string of at most 128 characters")
        display_name = raw.get("display_name")
        if display_name is not None and (not isinstance(display_name, str) or len(display_name) > 128):
            raise InvalidMessage("'display_name' must be a string of at most 128 characters")
        audience = raw.get("audience")
        if audience is not None and (type(audience) is not int or not 0 <= audience <= MAX_STORED_INT):
            raise InvalidMessage(f"'audience' must be a whole number from 0 to {MAX_STORED_INT}")
        # Self-declared, so never above the cap: a real audience comes only from a platform.
        if audience is not None:
            audience = min(audience, self.audience_cap) if self.audience_cap else None
        join = raw.get("join")
        if join is not None and (not isinstance(join, str) or len(join) > 32):
            raise InvalidMessage("'join' must be a case token")
        return InboundMessage(
            platform=self.name,
            platform_message_id=message_id,
            conversation_key=self.conversation_key(user, public),
            public=public,
            customer=Customer(user, handle=user, display_name=display_name, audience=audience),
            text=text,
            url=f"{self.base_url}/?{urlencode({'user': user, 'public': 'true'})}" if public else None,
            join_token=join,
            # The server-signed visitor cookie proves this is the same browser as before, so its
            # invitation joins the case; a `user` from the body alone (tools, tests) proves nothing.
            identity_verified=visitor is not None,
        )

    @staticmethod
    def conversation_key(user: str, public: bool) -> str:
        """Each demo user has one public thread (their posts on the brand's wall) and one DM."""
        return f"{'public' if public else 'private'}:{user}"

    async def send(self, message: OutboundMessage) -> str:
        return f"web-{uuid.uuid4().hex[:16]}"

    def dm_link(self, customer: Customer, join_token: str) -> str:
        """The private chat, in the customer's own browser: their cookie says who they are, so
        the link names no one (a public reply must not carry a customer id)."""
        return f"{self.base_url}/?{urlencode({'join': join_token})}#private"
