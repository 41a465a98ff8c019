"""Property-based fuzzing of everything the outside world can post: the web channel's API and the
Telegram and X webhooks, in process, with the real model behind them.

Generated payloads mix the right shape (the real field names) with wrong types, huge and negative
numbers, lone surrogates, odd digits and deep nesting, plus raw bytes. Two properties hold for
every one of them: the answer is never a 5xx, and a refused request (4xx) stores nothing.
Accepted messages run the model, which is slow-ish, so the strategies lean towards what is
refused; outbound replies go to the fake Telegram and X APIs on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.adapters.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from bot.app import create_app
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import Settings
from bot.store.models import Case, Conversation, CustomerRow, Handoff, MessageRow
from tests.conftest import MODEL_CACHE
from tests.fakes.telegram_api import BOT_USER, TOKEN, FakeTelegramApi
from tests.fakes.x_api import FakeXApi, x_signature

pytestmark = pytest.mark.model

SECRET = "fuzz-webhook_secret"


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,  # nothing written into the checkout; a failure prints its example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- the service under test --------------------------------------------------------------------


@dataclass
class Target:
    service: Service
    http: httpx.AsyncClient
    x_secret: str
    brand_id: str

    def stored(self) -> tuple[int, ...]:
        """Rows of every table a customer message writes to."""
        counts = [select(func.count()).select_from(t).scalar_subquery() for t in _TABLES]
        with self.service.repository.engine.connect() as connection:
            return tuple(connection.execute(select(*counts)).one())

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        """POSTs `body`; a refused request must store nothing, and no answer may be a 5xx."""
        before = self.stored()
        response = await self.http.post(
            path, content=body, headers={"content-type": "application/json", **(headers or {})}
        )
        assert response.status_code < 500, (response.status_code, response.text, body[:300])
        after = self.stored()
        event(f"answered {response.status_code}" + (", stored" if after != before else ""))
        if response.status_code >= 400:
            assert after == before, (response.status_code, response.text, body[:300])
        return response


_TABLES = (MessageRow, CustomerRow, Case, Conversation, Handoff)


@pytest.fixture(scope="module")
def fake_apis() -> Iterator[tuple[FakeTelegramApi, FakeXApi]]:
    x = FakeXApi().start()
    with FakeTelegramApi().running() as telegram:
        yield telegram, x
    x.stop()


@pytest.fixture(scope="module")
async def target(
    tmp_path_factory: pytest.TempPathFactory,
    rasa_runtime: RasaRuntime,
    model_path: Path,
    fake_apis: tuple[FakeTelegramApi, FakeXApi],
) -> AsyncIterator[Target]:
    """One service for the whole module, with all three channels: building one per example
    would take longer than the fuzzing itself."""
    telegram, x = fake_apis
    service = Service.build(
        Settings(
            data_dir=tmp_path_factory.mktemp("fuzz"),
            model_dir=MODEL_CACHE,
            tracker_store_url="memory",
            public_url="https://firstline.example",
            telegram_token=TOKEN,
            telegram_api_url=telegram.base_url,
            telegram_webhook_secret=SecretStr(SECRET),
            x_bearer_token=SecretStr(x.bearer_token),
            x_consumer_key=SecretStr(x.consumer_key),
            x_consumer_secret=SecretStr(x.consumer_secret),
            x_access_token=SecretStr(x.access_token),
            x_access_token_secret=SecretStr(x.access_token_secret),
            x_api_url=x.url,
            _env_file=None,
        ),
        model_path,
        rasa=rasa_runtime,
    )
    # Webhooks need to know who the bot is; nothing else of `start` (polling, workers) is wanted.
    await service.adapters["telegram"].connect()  # type: ignore[attr-defined]
    await service.adapters["x"].connect()  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="https://firstline.example") as http:
        yield Target(service, http, x.consumer_secret, x.brand["id"])
    await service.adapters["telegram"].stop()
    await service.adapters["x"].stop()
    service.repository.engine.dispose()


# --- strategies ----------------------------------------------------------------------------------

ODD_TEXT = [
    "x" * 3000,
    "ok " * 2000,
    "",
    " ",
    "\ud800",
    "a\udfffb",
    "\udbff\udc00",
    "²",
    "١٢",
    "１",
    "\x00",
    "😡",
    "ref AbCdEfGh12",
    "/start x",
]
ODD_INTS = [-1, 0, 1, 2**31 - 1, 2**31, 2**53, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]

any_text = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(max_size=12),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates included
)
any_int = st.one_of(st.sampled_from(ODD_INTS), st.integers(), st.integers(-(10**40), 10**40))
scalar = st.one_of(
    st.none(), st.booleans(), any_int, st.floats(allow_nan=False, allow_infinity=False), any_text
)
any_json = st.recursive(
    scalar,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3),
    max_leaves=5,
)


def _encode(value: Any) -> bytes:
    """JSON as a client would send it: surrogates as `\\udXXX` escapes, since they are not UTF-8."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False).encode()


def _deep(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.integers(60, 100_000).map(lambda n: b"[" * n),
    st.integers(60, 3000).map(_deep),
    st.sampled_from(
        [b"", b"null", b"NaN", b"[1e400]", b"{", b'"\\ud800"', b"\xef\xbb\xbf{}", "é".encode("latin-1")]
    ),
)


def maybe(valid: st.SearchStrategy[Any], weight: int = 3) -> st.SearchStrategy[Any]:
    """A valid value `weight` times in `weight + 1`, else anything at all."""
    # sampled_from draws its elements evenly (one_of would merge equal branches).
    return st.sampled_from([True] * weight + [False]).flatmap(lambda ok: valid if ok else any_json)


def shaped(required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]) -> Any:
    """Objects with the real field names, each value possibly of the wrong type, sometimes with
    an extra field, sometimes with a field nested deeply."""
    base = st.fixed_dictionaries(required, optional=optional)
    extra = st.dictionaries(any_text, any_json, max_size=1)
    return st.tuples(base, extra, st.booleans()).map(lambda t: {**t[0], **t[1]} if t[2] else t[0])


def with_depth(document: Any, depth: int) -> bytes:
    """`document` with its last field's value replaced by `depth` nested arrays."""
    if not isinstance(document, dict) or not document or depth == 0:
        return _encode(document)
    *kept, last = document
    head = _encode({k: document[k] for k in kept})[:-1]
    return head + (b", " if kept else b"") + _encode(last) + b": " + _deep(depth) + b"}"


def bodies(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Mostly shaped documents, a few with a field nested deeply, and some raw bytes."""

    def body(kind: str) -> st.SearchStrategy[bytes]:
        if kind == "raw":
            return raw_bodies
        return st.builds(with_depth, documents, st.just({"document": 0, "deep": 50, "deeper": 5000}[kind]))

    # sampled_from draws its elements evenly (one_of would merge equal branches).
    return st.sampled_from(["document"] * 8 + ["deep", "deeper", "raw", "raw"]).flatmap(body)


web_message = shaped(
    {
        "user": maybe(st.sampled_from(["alice", "bob.k", "c_3"]), 4),
        "text": maybe(st.sampled_from(["hi", "where is my order?"]), 4),
    },
    {
        "public": maybe(st.booleans()),
        "message_id": maybe(st.text("abc123", min_size=1, max_size=8)),
        "display_name": maybe(st.sampled_from(["Alice", "Zoë K."])),
        "audience": maybe(st.integers(0, 10_000)),
        "join": maybe(st.text("AbC12_-", min_size=8, max_size=12)),
    },
)

chat = shaped(
    {
        "id": maybe(st.sampled_from([42, -1001234567890])),
        "type": maybe(st.sampled_from(["private", "supergroup", "channel"])),
    },
    {"title": any_text},
)
telegram_user = shaped(
    {
        "id": maybe(st.just(42), 6),
        "is_bot": maybe(st.sampled_from([False] * 5 + [True]), 6),
        "first_name": maybe(st.sampled_from(["Alice", "Al\udfffce"])),
    },
    {"username": maybe(st.just("alice_k")), "last_name": any_text},
)
telegram_message = shaped(
    {
        "message_id": maybe(st.integers(1, 10**6), 6),
        "date": maybe(st.integers(1_600_000_000, 1_800_000_000), 6),
        "chat": maybe(chat, 6),
        "from": maybe(telegram_user, 6),
        "text": maybe(
            st.sampled_from(
                ["hello", f"@{BOT_USER['username']} my order never arrived", "/start AbCdEfGh12", "hi \ud800"]
            ),
            6,
        ),
    },
    {
        "caption": maybe(st.just("a photo"), 4),
        "entities": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "type": maybe(st.just("mention")),
                        "offset": maybe(st.just(0)),
                        "length": maybe(st.just(13)),
                    }
                ),
                max_size=2,
            )
        ),
        "edit_date": maybe(st.integers(1_600_000_000, 1_800_000_000)),
        "sender_chat": maybe(st.none(), 6),
        "sticker": maybe(
            st.just(
                {
                    "file_id": "f",
                    "file_unique_id": "u",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            ),
            4,
        ),
    },
)
telegram_update = shaped(
    {"update_id": maybe(st.integers(1, 10**9), 8), "message": maybe(telegram_message, 8)},
    {
        "edited_message": maybe(telegram_message, 1),
        "callback_query": maybe(st.none(), 4),
        "channel_post": maybe(st.none(), 4),
    },
)

x_id = st.integers(1, 10**18).map(str)
x_dm = shaped(
    {
        "type": maybe(st.just("message_create"), 6),
        "id": maybe(x_id, 6),
        "message_create": maybe(
            shaped(
                {
                    "sender_id": maybe(st.just("2244994945"), 6),
                    "message_data": maybe(
                        shaped(
                            {
                                "text": maybe(
                                    st.sampled_from(["my order never arrived", "hi", "ref AbCdEfGh12"]), 6
                                )
                            },
                            {"attachment": any_json},
                        ),
                        6,
                    ),
                },
                {"target": any_json},
            ),
            6,
        ),
    },
    {"created_timestamp": maybe(st.integers(0, 2_000_000_000_000).map(str))},
)
x_tweet = shaped(
    {"id_str": maybe(x_id)},
    {
        "user": maybe(shaped({"id_str": maybe(st.just("2244994945"))}, {})),
        "entities": maybe(
            shaped(
                {},
                {
                    "user_mentions": maybe(
                        st.lists(shaped({"id_str": maybe(st.just("1000"))}, {}), max_size=2)
                    )
                },
            )
        ),
        "in_reply_to_user_id_str": maybe(st.just("1000")),
        "retweeted_status": any_json,
    },
)
x_activity = shaped(
    {"for_user_id": maybe(st.just("1000"), 5)},
    {
        "direct_message_events": maybe(st.lists(maybe(x_dm, 5), min_size=1, max_size=2), 5),
        "tweet_create_events": maybe(st.lists(maybe(x_tweet, 5), max_size=2)),
        "users": maybe(
            st.dictionaries(
                st.just("2244994945"),
                shaped(
                    {},
                    {
                        "id_str": maybe(st.just("2244994945")),
                        "screen_name": any_text,
                        "name": any_text,
                        "followers_count": any_int,
                    },
                ),
                max_size=1,
            )
        ),
    },
)


# --- the properties ------------------------------------------------------------------------------


@fuzz(900)
@given(body=bodies(web_message))
async def test_posting_to_the_web_api(target: Target, body: bytes) -> None:
    await target.post("/api/web/messages", body)


@fuzz(200)
@given(
    params=st.dictionaries(
        st.sampled_from(["user", "public", "after"]),
        st.one_of(st.text(max_size=30), st.sampled_from(["alice", "true", "0", "²", str(2**63), "9" * 400])),
        max_size=3,
    )
)
async def test_reading_from_the_web_api(target: Target, params: dict[str, str]) -> None:
    response = await target.http.get("/api/web/messages", params=params)
    assert response.status_code < 500, (response.status_code, response.text, params)


@fuzz(500)
@given(body=bodies(telegram_update))
async def test_the_telegram_webhook(target: Target, body: bytes) -> None:
    await target.post(WEBHOOK_PATH, body, {SECRET_HEADER: SECRET})


@fuzz(500)
@given(body=bodies(x_activity))
async def test_the_x_webhook(target: Target, body: bytes) -> None:
    # Signed like X signs it, so the body is actually read.
    await target.post(
        "/webhooks/x", body, {"x-twitter-webhooks-signature": x_signature(target.x_secret, body)}
    )
