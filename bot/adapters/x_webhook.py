"""X's Account Activity webhook: the CRC challenge, event signatures, and the v1.1 event shapes.

X proves a webhook is ours by sending a `crc_token` that we must sign with the app's consumer
secret, and signs every event body the same way in `x-twitter-webhooks-signature`; anyone can
POST to a public URL, so an event whose signature does not match is refused before it is read.
Account Activity events still use the v1.1 objects; DM events are turned into the v2 shape here
so the adapter has one parser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "CRC_TOKEN",
    "crc_response",
    "crc_token_valid",
    "dm_events_v2",
    "mentioned_tweet_ids",
    "signature_valid",
]

logger = logging.getLogger(__name__)

CRC_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{1,255}")
"""What a CRC token looks like: a short opaque string in the (URL-safe) base64 alphabet."""


def _signature(secret: str, payload: bytes) -> str:
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_token_valid(crc_token: str) -> bool:
    """Whether `crc_token` is shaped like the tokens X sends, and so safe to sign.

    The CRC answer and an event's signature are the same function, HMAC-SHA256 with the consumer
    secret, so an endpoint that signs *anything* is a signing oracle: ask it to sign a made-up
    event body, then post that body with the answer as its signature (issue 12, finding 1).
    X's tokens are short opaque strings in the base64 alphabet. Every event body is a JSON
    object, which starts with `{`, a character outside that alphabet; so a token we agree to
    sign is never a body we would accept, and no CRC answer is ever a valid event signature.
    """
    return CRC_TOKEN.fullmatch(crc_token) is not None


def crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The answer X expects to a CRC challenge (a GET with `crc_token`).

    Raises:
        ValueError: the token is not shaped like X's (see `crc_token_valid`); it is not signed.
    """
    if not crc_token_valid(crc_token):
        raise ValueError("crc_token must be 1-255 characters of the base64 alphabet")
    return {"response_token": _signature(secret, crc_token.encode())}


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is X's signature of `body`, compared in constant time."""
    if not header:
        return False
    return hmac.compare_digest(_signature(secret, body).encode(), header.strip().encode())


def mentioned_tweet_ids(payload: dict[str, Any]) -> list[str]:
    """Ids of the new tweets in an event that mention the brand and were written by someone else.

    The adapter reads these tweets again through the v2 API: v1.1 tweets carry no
    `conversation_id`, and a reply must join the thread's conversation, not start its own.
    """
    brand = str(payload.get("for_user_id") or "")
    ids = []
    for tweet in _list(payload, "tweet_create_events"):
        if not isinstance(tweet, dict) or not isinstance(tweet.get("id_str"), str):
            logger.warning("x webhook: skipped a tweet event without an id_str")
            continue
        user = _dict(tweet, "user")
        if str(user.get("id_str") or "") == brand or "retweeted_status" in tweet:
            continue
        mentions = _list(_dict(tweet, "entities"), "user_mentions")
        mentioned = any(isinstance(m, dict) and str(m.get("id_str")) == brand for m in mentions)
        if mentioned or str(tweet.get("in_reply_to_user_id_str") or "") == brand:
            ids.append(tweet["id_str"])
    return ids


def dm_events_v2(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's direct messages as v2 `{"data": dm_event, "includes": {"users": [...]}}`."""
    users = _dict(payload, "users")
    converted = []
    for event in _list(payload, "direct_message_events"):
        if not isinstance(event, dict) or event.get("type") != "message_create":
            continue
        create = _dict(event, "message_create")
        data = _dict(create, "message_data")
        sender = str(create.get("sender_id") or "")
        dm_event: dict[str, Any] = {
            "id": str(event.get("id") or ""),
            "event_type": "MessageCreate",
            "text": data.get("text", ""),
            "sender_id": sender,
        }
        stamp = _timestamp(event.get("created_timestamp"))
        if stamp is not None:
            dm_event["created_at"] = stamp.isoformat().replace("+00:00", "Z")
        if data.get("attachment"):
            dm_event["attachments"] = {"media_keys": ["webhook"]}
        user = users.get(sender) if isinstance(users.get(sender), dict) else None
        includes = {"users": [_user_v2(user)]} if user else {}
        converted.append({"data": dm_event, "includes": includes})
    return converted


def _list(parent: dict[str, Any], key: str) -> list[Any]:
    """`parent[key]` when it is a list; anything else there (X never sends it) is skipped."""
    value = parent.get(key)
    if value is None or isinstance(value, list):
        return value or []
    logger.warning("x webhook: skipped %r, a %s where a list belongs", key, type(value).__name__)
    return []


def _dict(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """`parent[key]` when it is an object, else an empty one."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


MAX_TIMESTAMP_MS = 253402300799999
"""9999-12-31T23:59:59.999Z in milliseconds: the last moment a `datetime` can hold."""


def _timestamp(value: Any) -> datetime | None:
    """A v1.1 `created_timestamp` (milliseconds since 1970, as ASCII digits), or None.

    `str.isdigit` alone is not enough: it accepts "²", which `int` refuses, and a 30-digit
    number passes it but overflows `datetime` (and `int` refuses more than 4,300 digits).
    """
    text = value if isinstance(value, str) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 15) or int(text) > MAX_TIMESTAMP_MS:
        if value is not None:
            logger.warning("x webhook: ignored a created_timestamp that is not a time: %.40r", value)
        return None
    return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)


def _user_v2(user: dict[str, Any]) -> dict[str, Any]:
    followers = user.get("followers_count")
    return {
        "id": str(user.get("id") or user.get("id_str") or ""),
        "username": user.get("screen_name"),
        "name": user.get("name"),
        "public_metrics": {"followers_count": followers} if isinstance(followers, int) else {},
    }
