"""The built-in web channel: a demo page and a JSON API where anyone can play the customer.

It needs no accounts, so a newcomer can try Firstline in a browser, and tests can drive the whole
pipeline over plain HTTP. Replies are "delivered" by being stored; the page polls for them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

from bot.adapters.base import BaseAdapter
from bot.errors import InvalidMessage
from bot.input_limits import MAX_STORED_INT
from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.settings import Settings

__all__ = ["WebAdapter"]

_USER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FIELDS = {"user", "text", "public", "message_id", "display_name", "audience", "join"}


class WebAdapter(BaseAdapter):
    name = "web"

    def __init__(self, base_url: str, max_chars: int) -> None:
        self.base_url = base_url
        self.max_chars = max_chars

    @classmethod
    def from_settings(cls, settings: Settings) -> WebAdapter:
        return cls(settings.base_url, settings.max_message_chars)

    def parse(self, raw: Any) -> InboundMessage:
        if not isinstance(raw, dict):
            raise InvalidMessage("the body must be a JSON object")
        unknown = sorted(set(raw) - _FIELDS)
        if unknown:
            raise InvalidMessage(f"unknown field(s): {', '.join(unknown)}")
        user = raw.get("user")
        if not isinstance(user, str) or not _USER.match(user):
            raise InvalidMessage("'user' must be 1-64 letters, digits, '.', '_' or '-'")
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
        )

    @staticmethod
    def conversation_key(user: str, public: bool) -> str:
        """Each demo user has one public thread (their posts on the brand's wall) and one DM."""
        return f"{'public' if public else 'private'}:{user}"

    async def send(self, message: OutboundMessage) -> str:
        return f"web-{uuid.uuid4().hex[:16]}"

    def dm_link(self, customer: Customer, join_token: str) -> str:
        query = urlencode({"user": customer.platform_user_id, "join": join_token})
        return f"{self.base_url}/?{query}#private"
