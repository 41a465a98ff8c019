"""X's webhooks: the CRC challenge, event signatures, and the shapes of the two APIs that use them.

X proves a webhook is ours by sending a `crc_token` that we must sign with the app's consumer
secret, and signs every event body the same way in `x-twitter-webhooks-signature`; anyone can
POST to a public URL, so an event whose signature does not match is refused before it is read.
Account Activity events still use the v1.1 objects; DM events are turned into the v2 shape here
so the adapter has one parser. The X Activity API, which X offers in its place, wraps each event
in an envelope (`{"data": {"event_type", "filter", "payload", "includes"}}`): its posts are v2
already, and its DMs are the v1.1 `direct_message_events` with v2 users.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from datetime import datetime, timezone
from typing import Any

from bot.adapters.x_events import is_x_id
from bot.input_limits import ascii_int

__all__ = [
    "CRC_TOKEN",
    "activity_events",
    "crc_response",
    "crc_token_valid",
    "dm_events_v2",
    "is_activity_envelope",
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


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


MAX_TIMESTAMP_MS = 253_402_300_799_999
"""The last millisecond of the year 9999: the latest time Python's datetime can hold."""


def mentioned_tweet_ids(payload: dict[str, Any]) -> list[str]:
    """Ids of the new tweets in an event that mention the brand and were written by someone else.

    The adapter reads these tweets again through the v2 API: v1.1 tweets carry no
    `conversation_id`, and a reply must join the thread's conversation, not start its own.
    Anything of the wrong type is passed over: the signature proves the sender, not the shape.
    """
    brand = payload.get("for_user_id")
    if not is_x_id(brand):
        return []
    ids = []
    for tweet in _list(payload.get("tweet_create_events")):
        if not isinstance(tweet, dict) or not is_x_id(tweet.get("id_str")):
            logger.warning("x webhook: skipped a tweet event without an id_str")
            continue
        if _dict(tweet.get("user")).get("id_str") == brand or "retweeted_status" in tweet:
            continue
        mentions = _list(_dict(tweet.get("entities")).get("user_mentions"))
        mentioned = any(isinstance(m, dict) and m.get("id_str") == brand for m in mentions)
        if mentioned or tweet.get("in_reply_to_user_id_str") == brand:
            ids.append(tweet["id_str"])
    return ids


def dm_events_v2(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's direct messages as v2 `{"data": dm_event, "includes": {"users": [...]}}`."""
    users = _dict(payload.get("users"))
    converted = []
    for event in _list(payload.get("direct_message_events")):
        if not isinstance(event, dict) or event.get("type") != "message_create":
            continue
        create = _dict(event.get("message_create"))
        data = _dict(create.get("message_data"))
        sender = create.get("sender_id")
        if not is_x_id(event.get("id")) or not is_x_id(sender):
            logger.warning("x webhook: skipped a DM event without a numeric id and sender_id")
            continue
        text = data.get("text")
        dm_event: dict[str, Any] = {
            "id": event["id"],
            "event_type": "MessageCreate",
            "text": text if isinstance(text, str) else "",
            "sender_id": sender,
        }
        raw_stamp = event.get("created_timestamp")
        try:
            millis = ascii_int(raw_stamp, hi=MAX_TIMESTAMP_MS)
        except ValueError:
            # The adapter stamps it with the time it arrived.
            if raw_stamp is not None:
                logger.warning("x webhook: DM %s has an unreadable created_timestamp", event["id"])
        else:
            stamp = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
            dm_event["created_at"] = stamp.isoformat().replace("+00:00", "Z")
        if data.get("attachment"):
            dm_event["attachments"] = {"media_keys": ["webhook"]}
        user = users.get(sender) if isinstance(users.get(sender), dict) else None
        includes = {"users": [_user_v2(user)]} if user else {}
        converted.append({"data": dm_event, "includes": includes})
    return converted


def activity_events(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """An X Activity API delivery as (the subscribed account's id, its v2 events).

    Posts (`post.create`, `post.mention.create`, `post.reply.create`, `post.quote.create`,
    `post.repost.create`) come as they are, so the parser decides what is the brand's own or a
    repost; `dm.received` and `dm.sent` become v2 DM events. Other kinds (likes, follows, XChat,
    whose messages are end-to-end encrypted) carry nothing to answer and give no events.
    """
    data = _dict(body.get("data"))
    event_type, payload = data.get("event_type"), _dict(data.get("payload"))
    brand = _dict(data.get("filter")).get("user_id")
    brand = brand if is_x_id(brand) else None
    if not isinstance(event_type, str) or not payload:
        logger.warning("x webhook: skipped an Activity API event without an event_type and a payload")
        return brand, []
    if event_type.startswith("post."):
        return brand, [{"data": payload, "includes": _dict(data.get("includes"))}]
    if event_type in ("dm.received", "dm.sent"):
        return brand, dm_events_v2(payload)
    logger.info("x webhook: Activity API %s event passed over", event_type)
    return brand, []


def is_activity_envelope(body: dict[str, Any]) -> bool:
    """Whether `body` is an X Activity API delivery rather than an Account Activity one."""
    return isinstance(body.get("data"), dict) and "event_type" in body["data"]


def _user_v2(user: dict[str, Any]) -> dict[str, Any]:
    if isinstance(user.get("data"), dict):
        # The Activity API's users map holds `{"data": <v2 user>}`: already the shape wanted.
        v2 = user["data"]
        return {key: v2[key] for key in ("id", "username", "name", "public_metrics") if key in v2}
    followers = user.get("followers_count")
    user_id = next((i for i in (user.get("id_str"), user.get("id")) if isinstance(i, str)), "")
    return {
        "id": user_id,
        "username": user.get("screen_name"),
        "name": user.get("name"),
        "public_metrics": {"followers_count": followers} if isinstance(followers, int) else {},
    }
