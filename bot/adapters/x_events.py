"""X's v2 tweets and DM events as Firstline's `InboundMessage`: pure functions, no I/O.

A mention lives in its thread (`thread:<conversation_id>`, public), a DM in the chat with its
sender (`dm:<user id>`, private). What must never be answered (the brand's own posts, retweets)
is recognised here, so both polling and the webhook leave it alone.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any

from bot.errors import InvalidMessage
from bot.input_limits import MAX_STORED_INT
from bot.messages import Customer, InboundMessage, utcnow

__all__ = ["JOIN_TOKEN", "PLATFORM", "is_x_id", "parse_event"]

PLATFORM = "x"
_X_ID = re.compile(r"[0-9]{1,19}")
JOIN_TOKEN = re.compile(r"\bref[ :#]+([A-Za-z0-9_-]{8,32})(?![A-Za-z0-9_-])")
"""How the prefilled DM text of the invitation carries the case's join token: `ref <token>`."""


def is_x_id(value: Any) -> bool:
    """Whether `value` is an X id as the API writes it: a string of ASCII digits (a 64-bit number)."""
    return isinstance(value, str) and _X_ID.fullmatch(value) is not None


def _count(value: Any) -> int | None:
    """A follower or engagement count, or None when it is not a plausible one."""
    return value if type(value) is int and 0 <= value <= MAX_STORED_INT else None


def parse_event(raw: Any, brand_id: str | None) -> InboundMessage | None:
    """One v2 tweet or DM event with its `includes`: `{"data": {...}, "includes": {...}}`.

    Returns None for what must never be answered: the brand's own tweets and DMs, retweets,
    and DM events other than messages.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        raise InvalidMessage("an X event must be an object with a 'data' object")
    data, includes = raw["data"], raw.get("includes") if isinstance(raw.get("includes"), dict) else {}
    if not is_x_id(data.get("id")):
        raise InvalidMessage("an X event needs a numeric string 'id'")
    listed = includes.get("users") if isinstance(includes.get("users"), list) else []
    users = {u.get("id"): u for u in listed if isinstance(u, dict)}
    if "event_type" in data:
        return _parse_dm(data, users, brand_id)
    return _parse_tweet(data, users, brand_id)


def _parse_tweet(
    tweet: dict[str, Any], users: dict[Any, dict[str, Any]], brand_id: str | None
) -> InboundMessage | None:
    author = tweet.get("author_id")
    if not is_x_id(author):
        raise InvalidMessage(f"tweet {tweet['id']} has no author_id")
    if author == brand_id:
        return None
    references = tweet.get("referenced_tweets") if isinstance(tweet.get("referenced_tweets"), list) else []
    if any(isinstance(r, dict) and r.get("type") == "retweeted" for r in references):
        return None
    text = tweet.get("text")
    if not isinstance(text, str):
        raise InvalidMessage(f"tweet {tweet['id']} has no text")
    # X sends a post's text with &, < and > escaped as HTML entities (a recorded post says
    # "Illustrating &amp; expanding"); the model and the agent must read what the author wrote.
    text = html.unescape(text)
    customer = _customer(author, users.get(author))
    metrics = tweet.get("public_metrics") if isinstance(tweet.get("public_metrics"), dict) else {}
    counts = [_count(metrics.get(k)) for k in ("retweet_count", "reply_count", "like_count", "quote_count")]
    engagement = min(MAX_STORED_INT, sum(c for c in counts if c is not None)) if metrics else None
    conversation = tweet.get("conversation_id") if is_x_id(tweet.get("conversation_id")) else None
    path = f"{customer.handle}/status" if customer.handle else "i/web/status"
    return InboundMessage(
        platform=PLATFORM,
        platform_message_id=tweet["id"],
        conversation_key=f"thread:{conversation or tweet['id']}",
        public=True,
        customer=customer,
        text=text,
        received_at=_timestamp(tweet.get("created_at")),
        url=f"https://twitter.com/{path}/{tweet['id']}",
        engagement=engagement,
    )


def _parse_dm(
    event: dict[str, Any], users: dict[Any, dict[str, Any]], brand_id: str | None
) -> InboundMessage | None:
    if event.get("event_type") != "MessageCreate":
        return None
    sender = event.get("sender_id")
    if not is_x_id(sender):
        raise InvalidMessage(f"DM event {event['id']} has no sender_id")
    if sender == brand_id:
        return None
    text = event.get("text") if isinstance(event.get("text"), str) else ""
    kind = "text"
    if not text.strip():
        if not event.get("attachments"):
            raise InvalidMessage(f"DM event {event['id']} has neither text nor an attachment")
        kind, text = "media", "[media]"
    token = JOIN_TOKEN.search(text)
    return InboundMessage(
        platform=PLATFORM,
        platform_message_id=event["id"],
        conversation_key=f"dm:{sender}",
        public=False,
        customer=_customer(sender, users.get(sender)),
        text=text,
        received_at=_timestamp(event.get("created_at")),
        join_token=token.group(1) if token else None,
        kind=kind,
    )


def _customer(user_id: str, user: dict[str, Any] | None) -> Customer:
    user = user or {}
    metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), dict) else {}
    handle, name = user.get("username"), user.get("name")
    return Customer(
        platform_user_id=user_id,
        handle=handle if isinstance(handle, str) else None,
        display_name=name if isinstance(name, str) else None,
        audience=_count(metrics.get("followers_count")),
    )


def _timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return utcnow()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return utcnow()
