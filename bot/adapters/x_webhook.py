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
from datetime import datetime, timezone
from typing import Any

__all__ = ["crc_response", "dm_events_v2", "mentioned_tweet_ids", "signature_valid"]

logger = logging.getLogger(__name__)


def _signature(secret: str, payload: bytes) -> str:
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The answer X expects to a CRC challenge (a GET with `crc_token`)."""
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
    for tweet in payload.get("tweet_create_events") or []:
        if not isinstance(tweet, dict) or not isinstance(tweet.get("id_str"), str):
            logger.warning("x webhook: skipped a tweet event without an id_str")
            continue
        user = tweet.get("user") if isinstance(tweet.get("user"), dict) else {}
        if str(user.get("id_str") or "") == brand or "retweeted_status" in tweet:
            continue
        mentions = ((tweet.get("entities") or {}).get("user_mentions")) or []
        mentioned = any(isinstance(m, dict) and str(m.get("id_str")) == brand for m in mentions)
        if mentioned or str(tweet.get("in_reply_to_user_id_str") or "") == brand:
            ids.append(tweet["id_str"])
    return ids


def dm_events_v2(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's direct messages as v2 `{"data": dm_event, "includes": {"users": [...]}}`."""
    users = payload.get("users") if isinstance(payload.get("users"), dict) else {}
    converted = []
    for event in payload.get("direct_message_events") or []:
        if not isinstance(event, dict) or event.get("type") != "message_create":
            continue
        create = event.get("message_create") if isinstance(event.get("message_create"), dict) else {}
        data = create.get("message_data") if isinstance(create.get("message_data"), dict) else {}
        sender = str(create.get("sender_id") or "")
        dm_event: dict[str, Any] = {
            "id": str(event.get("id") or ""),
            "event_type": "MessageCreate",
            "text": data.get("text", ""),
            "sender_id": sender,
        }
        if str(event.get("created_timestamp") or "").isdigit():
            stamp = datetime.fromtimestamp(int(event["created_timestamp"]) / 1000, tz=timezone.utc)
            dm_event["created_at"] = stamp.isoformat().replace("+00:00", "Z")
        if data.get("attachment"):
            dm_event["attachments"] = {"media_keys": ["webhook"]}
        user = users.get(sender) if isinstance(users.get(sender), dict) else None
        includes = {"users": [_user_v2(user)]} if user else {}
        converted.append({"data": dm_event, "includes": includes})
    return converted


def _user_v2(user: dict[str, Any]) -> dict[str, Any]:
    followers = user.get("followers_count")
    return {
        "id": str(user.get("id") or user.get("id_str") or ""),
        "username": user.get("screen_name"),
        "name": user.get("name"),
        "public_metrics": {"followers_count": followers} if isinstance(followers, int) else {},
    }
