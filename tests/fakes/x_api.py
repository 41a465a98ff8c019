"""A fake X API v2 on 127.0.0.1, and a fake Account Activity webhook sender.

It speaks X's wire formats as X documents them: `data`/`includes`/`meta` bodies, only the
default fields unless `tweet.fields`/`user.fields`/`dm_event.fields` ask for more, problem-JSON
error bodies, and `x-rate-limit-limit/remaining/reset` on every answer (a spent window answers
429). The real tweepy client talks to it over real HTTP; only the host differs.

Authentication is checked as far as a test needs: the bearer token must match, and a user-context
request must carry an OAuth 1.0a header naming the right consumer key and access token (the
HMAC-SHA1 signature itself is not verified).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from twitter_text import extract_urls, parse_tweet

__all__ = ["AccountActivitySender", "FakeClock", "FakeXApi", "x_signature"]

WINDOW_SECONDS = 900
LIMITS = {
    # endpoint: requests per 15-minute window (X's published limits, roughly)
    "me": 75,
    "user": 900,
    "mentions": 450,
    "tweet": 900,
    "dm_events": 300,
    "create_tweet": 200,
    "send_dm": 200,
}
READ_PRICES = {
    # endpoint: (operation, USD per resource returned), docs.x.com "pricing", December 2026
    "me": ("user_read", 0.010),
    "user": ("user_read", 0.010),
    "mentions": ("post_read", 0.005),
    "tweet": ("post_read", 0.005),
    "dm_events": ("dm_event_read", 0.010),
}
USER_CONTEXT_ONLY = {"me", "dm_events", "create_tweet", "send_dm"}
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/2/users/me$"), "me"),
    ("GET", re.compile(r"^/2/users/(\d+)/mentions$"), "mentions"),
    ("GET", re.compile(r"^/2/users/(\d+)$"), "user"),
    ("GET", re.compile(r"^/2/tweets/(\d+)$"), "tweet"),
    ("POST", re.compile(r"^/2/tweets$"), "create_tweet"),
    ("GET", re.compile(r"^/2/dm_events$"), "dm_events"),
    ("POST", re.compile(r"^/2/dm_conversations/with/(\d+)/messages$"), "send_dm"),
]
_TITLES = {
    400: "Invalid Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found Error",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def x_signature(secret: str, payload: bytes) -> str:
    """How X signs a CRC token or a webhook body: base64 HMAC-SHA256 with the consumer secret."""
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


def problem(status: int, detail: str | None = None) -> dict[str, Any]:
    """X's problem-JSON error body."""
    title = _TITLES.get(status, "Error")
    return {"title": title, "detail": detail or title, "type": "about:blank", "status": status}


class FakeClock:
    """Epoch seconds that move only when told; shared by the fake and the adapter under test."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(start if start is not None else time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class _Window:
    limit: int
    remaining: int
    reset: int


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    endpoint: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    auth: str
    """"bearer" or "user"."""


class FakeXApi:
    """X's API v2 as far as Firstline uses it, with scenario helpers for tests."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        bearer_token: str = "fake-bearer",
        consumer_key: str = "fake-consumer-key",
        consumer_secret: str = "fake-consumer-secret",
        access_token: str = "1000-fake-access-token",
        access_token_secret: str = "fake-access-secret",
    ) -> None:
        self.clock = clock or time.time
        self.bearer_token = bearer_token
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret
        self.users: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, dict[str, Any]] = {}
        self.dm_events: dict[str, dict[str, Any]] = {}
        self.closed_dms: set[str] = set()
        """Users who do not accept DMs from the brand: sending to them is a 403."""
        self.seen: list[Seen] = []
        self.bill: dict[tuple[str, str, str], float] = {}
        """What X would have charged: (UTC day, operation, resource or request id) -> USD."""
        self.page_size: int | None = None
        """Caps `max_results`, to make pagination happen with few items."""
        self._windows: dict[str, _Window] = {}
        self._failures: dict[str, deque[tuple[int, float | None]]] = {}
        self._ids = itertools.count(1_790_000_000_000_000_000, 1_000)
        self._lock = threading.RLock()
        self.brand = self.add_user("Kestrel", followers=52_000, user_id=access_token.partition("-")[0])
        self._server: ThreadingHTTPServer | None = None

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> FakeXApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-x-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- scenario helpers ----------------------------------------------------------------------

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _created_at(self) -> str:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def add_user(
        self, name: str, *, username: str | None = None, followers: int = 100, user_id: str | None = None
    ) -> dict[str, Any]:
        user_id = user_id or self._next_id()
        user = {
            "id": user_id,
            "name": name,
            "username": username or name.lower().replace(" ", "_"),
            "public_metrics": {
                "followers_count": followers,
                "following_count": 10,
                "tweet_count": 50,
                "listed_count": 0,
            },
        }
        self.users[user_id] = user
        return user

    def post_tweet(
        self,
        author: dict[str, Any],
        text: str,
        *,
        reply_to: str | None = None,
        retweet_of: str | None = None,
        likes: int = 0,
        retweets: int = 0,
    ) -> dict[str, Any]:
        """A tweet as X stores it; a reply joins its parent's conversation."""
        tweet_id = self._next_id()
        tweet: dict[str, Any] = {
            "id": tweet_id,
            "text": text,
            "edit_history_tweet_ids": [tweet_id],
            "author_id": author["id"],
            "conversation_id": tweet_id,
            "created_at": self._created_at(),
            "public_metrics": {
                "retweet_count": retweets,
                "reply_count": 0,
                "like_count": likes,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": 10 * (likes + retweets + 1),
            },
        }
        if reply_to is not None:
            parent = self.tweets[reply_to]
            tweet["conversation_id"] = parent["conversation_id"]
            tweet["in_reply_to_user_id"] = parent["author_id"]
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
            parent["public_metrics"]["reply_count"] += 1
        if retweet_of is not None:
            tweet["referenced_tweets"] = [{"type": "retweeted", "id": retweet_of}]
        with self._lock:
            self.tweets[tweet_id] = tweet
        return tweet

    def send_dm(self, sender: dict[str, Any], text: str, recipient_id: str | None = None) -> dict[str, Any]:
        """A DM event in the brand's inbox (from a customer, or from the brand when it sends)."""
        other = recipient_id or self.brand["id"]
        event_id = self._next_id()
        event = {
            "id": event_id,
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender["id"],
            "dm_conversation_id": "-".join(sorted([sender["id"], other], key=int)),
            "created_at": self._created_at(),
            "participant_ids": [sender["id"], other],
        }
        with self._lock:
            self.dm_events[event_id] = event
        return event

    def fail_next(self, endpoint: str, status: int, *, reset_in: float | None = None) -> None:
        """The next request to `endpoint` gets `status`; a 429 with `reset_in` also spends the
        window until then (and says so in its headers), a 429 without it sends no reset time."""
        self._failures.setdefault(endpoint, deque()).append((status, reset_in))

    def exhaust(self, endpoint: str, reset_in: float) -> None:
        """Spends `endpoint`'s window; it refills `reset_in` seconds from now."""
        self._windows[endpoint] = _Window(LIMITS[endpoint], 0, int(self.clock() + reset_in))

    def set_remaining(self, endpoint: str, remaining: int, reset_in: float = WINDOW_SECONDS) -> None:
        self._windows[endpoint] = _Window(LIMITS[endpoint], remaining, int(self.clock() + reset_in))

    def requests_to(self, endpoint: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.endpoint == endpoint]

    def replies_to(self, tweet_id: str) -> list[dict[str, Any]]:
        return [
            t
            for t in self.tweets.values()
            if {"type": "replied_to", "id": tweet_id} in (t.get("referenced_tweets") or [])
        ]

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.dm_events.values()
            if e["sender_id"] == self.brand["id"] and user_id in e["participant_ids"]
        ]

    # --- Account Activity (v1.1 shapes) --------------------------------------------------------

    def _user_v1(self, user_id: str) -> dict[str, Any]:
        user = self.users[user_id]
        return {
            "id": int(user_id),
            "id_str": user_id,
            "name": user["name"],
            "screen_name": user["username"],
            "followers_count": user["public_metrics"]["followers_count"],
        }

    def activity_for_tweet(self, tweet_id: str) -> dict[str, Any]:
        tweet = self.tweets[tweet_id]
        mentions = [
            {"screen_name": u["username"], "id_str": u["id"], "id": int(u["id"])}
            for u in self.users.values()
            if f"@{u['username']}".lower() in tweet["text"].lower()
        ]
        v1 = {
            "created_at": datetime.fromisoformat(tweet["created_at"].replace("Z", "+00:00")).strftime(
                "%a %b %d %H:%M:%S +0000 %Y"
            ),
            "id": int(tweet_id),
            "id_str": tweet_id,
            "text": tweet["text"],
            "user": self._user_v1(tweet["author_id"]),
            "in_reply_to_user_id_str": tweet.get("in_reply_to_user_id"),
            "entities": {"hashtags": [], "urls": [], "user_mentions": mentions},
            "timestamp_ms": str(int(self.clock() * 1000)),
        }
        refs = {r["type"]: r["id"] for r in tweet.get("referenced_tweets") or []}
        if "replied_to" in refs:
            v1["in_reply_to_status_id_str"] = refs["replied_to"]
        if "retweeted" in refs:
            v1["retweeted_status"] = {"id_str": refs["retweeted"]}
        return {"for_user_id": self.brand["id"], "tweet_create_events": [v1]}

    def activity_for_dm(self, event_id: str) -> dict[str, Any]:
        event = self.dm_events[event_id]
        recipient = next(p for p in event["participant_ids"] if p != event["sender_id"])
        return {
            "for_user_id": self.brand["id"],
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event_id,
                    "created_timestamp": str(int(self.clock() * 1000)),
                    "message_create": {
                        "target": {"recipient_id": recipient},
                        "sender_id": event["sender_id"],
                        "message_data": {"text": event["text"], "entities": {}},
                    },
                }
            ],
            "users": {uid: self._user_v1(uid) for uid in event["participant_ids"]},
        }

    # --- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        routed = next(
            (
                (endpoint, m)
                for verb, pattern, endpoint in _ROUTES
                if verb == method and (m := pattern.match(parts.path))
            ),
            None,
        )
        if routed is None:
            self._reply(request, 404, problem(404, f"no route {method} {parts.path}"), {})
            return
        endpoint, match = routed
        body = json.loads(raw) if raw else None
        auth = self._auth(request.headers.get("Authorization") or "")
        with self._lock:
            self.seen.append(Seen(method, endpoint, parts.path, query, body, auth or "none"))
        if auth is None or (auth == "bearer" and endpoint in USER_CONTEXT_ONLY):
            self._reply(request, 401, problem(401), {})
            return
        headers, limited = self._count(endpoint)
        if limited:
            self._reply(request, 429, problem(429), headers)
            return
        queued = self._failures.get(endpoint)
        if queued:
            status, reset_in = queued.popleft()
            if status == 429 and reset_in is None:
                headers = {}
            elif status == 429:
                self.exhaust(endpoint, reset_in)
                headers = self._headers(self._windows[endpoint])
            self._reply(request, status, problem(status), headers)
            return
        with self._lock:
            status, answer = getattr(self, f"_{endpoint}")(match, query, body)
            if status < 300:
                self._bill(endpoint, answer, body)
        self._reply(request, status, answer, headers)

    def _bill(self, endpoint: str, answer: dict[str, Any], body: Any) -> None:
        """What X would charge for one successful request, as its pricing page says: reads per
        resource in `data`, each at most once per UTC day; writes per request, a post with a URL
        at the dearer price."""
        day = datetime.fromtimestamp(self.clock(), timezone.utc).date().isoformat()
        data = answer.get("data")
        if endpoint in READ_PRICES:
            items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
            for item in items:
                key = (day, READ_PRICES[endpoint][0], item["id"])
                self.bill.setdefault(key, READ_PRICES[endpoint][1])
        elif endpoint == "create_tweet":
            text = (body or {}).get("text", "")
            dear = bool(extract_urls(text))
            self.bill[(day, "post_create_with_url" if dear else "post_create", data["id"])] = (
                0.200 if dear else 0.015
            )
        elif endpoint == "send_dm":
            self.bill[(day, "dm_create", data["dm_event_id"])] = 0.015

    def billed(self) -> float:
        """USD charged so far."""
        return sum(self.bill.values())

    def _auth(self, header: str) -> str | None:
        if header == f"Bearer {self.bearer_token}":
            return "bearer"
        if header.startswith("OAuth "):
            fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
            if (fields.get("oauth_consumer_key"), fields.get("oauth_token")) == (
                self.consumer_key,
                self.access_token,
            ):
                return "user"
        return None

    def _count(self, endpoint: str) -> tuple[dict[str, str], bool]:
        now = self.clock()
        window = self._windows.get(endpoint)
        if window is None or now >= window.reset:
            window = self._windows[endpoint] = _Window(
                LIMITS[endpoint], LIMITS[endpoint], int(now + WINDOW_SECONDS)
            )
        if window.remaining == 0:
            return self._headers(window), True
        window.remaining -= 1
        return self._headers(window), False

    @staticmethod
    def _headers(window: _Window) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(window.limit),
            "x-rate-limit-remaining": str(window.remaining),
            "x-rate-limit-reset": str(window.reset),
        }

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)

    # --- endpoints (called under the lock) -----------------------------------------------------

    @staticmethod
    def _fields(item: dict[str, Any], defaults: set[str], requested: str | None) -> dict[str, Any]:
        wanted = defaults | set((requested or "").split(",")) - {""}
        return {key: value for key, value in item.items() if key in wanted}

    def _tweet_v2(self, tweet: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        return self._fields(tweet, {"id", "text", "edit_history_tweet_ids"}, query.get("tweet.fields"))

    def _user_v2(self, user: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        return self._fields(user, {"id", "name", "username"}, query.get("user.fields"))

    def _includes(self, tweets: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        expansions = set((query.get("expansions") or "").split(","))
        users: dict[str, dict[str, Any]] = {}
        referenced: dict[str, dict[str, Any]] = {}
        for tweet in tweets:
            if "author_id" in expansions and tweet["author_id"] in self.users:
                users[tweet["author_id"]] = self._user_v2(self.users[tweet["author_id"]], query)
            if "referenced_tweets.id" in expansions:
                for ref in tweet.get("referenced_tweets") or []:
                    if ref["id"] in self.tweets:
                        referenced[ref["id"]] = self._tweet_v2(self.tweets[ref["id"]], query)
        includes: dict[str, Any] = {}
        if users:
            includes["users"] = list(users.values())
        if referenced:
            includes["tweets"] = list(referenced.values())
        return includes

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, str], low: int, high: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        try:
            size = int(query.get("max_results", "10"))
        except ValueError:
            return None
        if not low <= size <= high:
            return None
        size = min(size, self.page_size or size)
        token = query.get("pagination_token")
        start = int(token.removeprefix("p")) if token else 0
        page = items[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if start + size < len(items):
            meta["next_token"] = f"p{start + size}"
        return page, meta

    @staticmethod
    def _not_found(kind: str, item_id: str) -> dict[str, Any]:
        """X answers a lookup of a missing item with 200 and an `errors` list, not a 404."""
        return {
            "errors": [
                {
                    "value": item_id,
                    "detail": f"Could not find {kind} with id: [{item_id}].",
                    "title": "Not Found Error",
                    "resource_type": kind,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
            ]
        }

    @staticmethod
    def _invalid(message: str) -> tuple[int, dict[str, Any]]:
        return 400, {
            "errors": [{"parameters": {}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }

    def _me(self, match: re.Match[str], query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        return 200, {"data": self._user_v2(self.brand, query)}

    def _user(self, match: re.Match[str], query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        user = self.users.get(match.group(1))
        if user is None:
            return 200, self._not_found("user", match.group(1))
        return 200, {"data": self._user_v2(user, query)}

    def _mentions(self, match: re.Match[str], query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        user = self.users.get(match.group(1))
        if user is None:
            return self._invalid(f"The `id` query parameter value [{match.group(1)}] does not exist")
        since = int(query.get("since_id") or 0)
        mentioned = sorted(
            (
                t
                for t in self.tweets.values()
                if f"@{user['username']}".lower() in t["text"].lower() and int(t["id"]) > since
            ),
            key=lambda t: -int(t["id"]),
        )
        paged = self._page(mentioned, query, 5, 100)
        if paged is None:
            return self._invalid("The `max_results` query parameter value is not between 5 and 100")
        page, meta = paged
        answer: dict[str, Any] = {"meta": meta}
        if page:
            answer["data"] = [self._tweet_v2(t, query) for t in page]
            answer["includes"] = self._includes(page, query)
        return 200, answer

    def _tweet(self, match: re.Match[str], query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        tweet = self.tweets.get(match.group(1))
        if tweet is None:
            return 200, self._not_found("tweet", match.group(1))
        return 200, {"data": self._tweet_v2(tweet, query), "includes": self._includes([tweet], query)}

    def _create_tweet(
        self, match: re.Match[str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        text = (body or {}).get("text")
        if not isinstance(text, str) or not text:
            return self._invalid("text is required")
        # X's own counting, from the reference library, not Firstline's `measure`: a fake that
        # judged length with the code under test could never catch it miscounting.
        if parse_tweet(text).weightedLength > 280:
            return 403, problem(403, "Your Tweet text is too long.")
        if any(t["author_id"] == self.brand["id"] and t["text"] == text for t in self.tweets.values()):
            return 403, problem(403, "You are not allowed to create a Tweet with duplicate content.")
        reply_to = ((body or {}).get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to is not None and reply_to not in self.tweets:
            return self._invalid(f"The `in_reply_to_tweet_id` [{reply_to}] does not exist")
        tweet = self.post_tweet(self.brand, text, reply_to=reply_to)
        return 201, {"data": {"id": tweet["id"], "text": text, "edit_history_tweet_ids": [tweet["id"]]}}

    def _dm_events(
        self, match: re.Match[str], query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        events = sorted(self.dm_events.values(), key=lambda e: -int(e["id"]))
        paged = self._page(events, query, 1, 100)
        if paged is None:
            return self._invalid("The `max_results` query parameter value is not between 1 and 100")
        page, meta = paged
        meta.pop("newest_id", None), meta.pop("oldest_id", None)
        answer: dict[str, Any] = {"meta": meta}
        if page:
            default = {"id", "event_type", "text"}
            answer["data"] = [self._fields(e, default, query.get("dm_event.fields")) for e in page]
            if "sender_id" in (query.get("expansions") or ""):
                senders = {e["sender_id"] for e in page if e["sender_id"] in self.users}
                answer["includes"] = {"users": [self._user_v2(self.users[s], query) for s in sorted(senders)]}
        return 200, answer

    def _send_dm(self, match: re.Match[str], query: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        recipient = match.group(1)
        text = (body or {}).get("text")
        if not isinstance(text, str) or not text:
            return self._invalid("text is required")
        if recipient in self.closed_dms or recipient not in self.users:
            return 403, problem(403, "You cannot send messages to this user.")
        event = self.send_dm(self.brand, text, recipient_id=recipient)
        return 201, {"data": {"dm_conversation_id": event["dm_conversation_id"], "dm_event_id": event["id"]}}


class AccountActivitySender:
    """Plays X delivering Account Activity events to Firstline's webhook, signed as X signs them."""

    def __init__(self, http: httpx.AsyncClient, consumer_secret: str, path: str = "/webhooks/x") -> None:
        self.http = http
        self.consumer_secret = consumer_secret
        self.path = path

    async def crc_check(self, token: str = "crc-challenge-token") -> bool:
        """X's challenge-response check: does the webhook sign `token` with our shared secret?"""
        answer = await self.http.get(self.path, params={"crc_token": token})
        expected = x_signature(self.consumer_secret, token.encode())
        return answer.status_code == 200 and answer.json() == {"response_token": expected}

    async def deliver(self, payload: dict[str, Any], *, signature: str | None = None) -> httpx.Response:
        """POSTs `payload`; `signature` overrides the real one (to play a forger)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        header = signature if signature is not None else x_signature(self.consumer_secret, body)
        headers = {"content-type": "application/json"}
        if header:
            headers["x-twitter-webhooks-signature"] = header
        return await self.http.post(self.path, content=body, headers=headers)
