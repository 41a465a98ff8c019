"""Recorded Telegram and X payloads (tests/data/payloads, sources in its README) through the real parsers.

Every fixture file has a row in `CASES` saying how the adapters would receive it and what must
come out: a message (some of its fields), None (skipped on purpose), or `InvalidMessage` with a
reason. Any other exception is a failure. A new fixture without a row fails
`test_every_fixture_has_a_case`, so nothing in the directory goes untested.

The parsers are called the way the adapters call them: Telegram JSON through `to_update` and
`read_update`; X pages split into items by `XAdapter._pages` and each item read by `parse_event`;
Account Activity bodies through `dm_events_v2` and `mentioned_tweet_ids`. X Activity API envelopes
are not read by the project yet: the test shows that `parse_event` refuses them, and what the
existing parsers make of their `payload` (which an adapter for that API would pass on).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.telegram_updates import BotIdentity, conversation_key, read_update, to_update
from bot.adapters.x_adapter import XAdapter
from bot.adapters.x_events import parse_event
from bot.adapters.x_webhook import activity_events, dm_events_v2, is_activity_envelope, mentioned_tweet_ids
from bot.errors import InvalidMessage
from bot.messages import InboundMessage
from tests.fakes.telegram_api import BOT_USER

PAYLOADS = Path(__file__).resolve().parents[2] / "data" / "payloads"
ME = BotIdentity(BOT_USER["id"], BOT_USER["username"])


# --- what a fixture must turn into -----------------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    """A message; only the fields given are compared (`text` exactly, `text_start` as a prefix)."""

    id: str
    key: str
    public: bool
    user: str
    kind: str = "text"
    text: str | None = None
    text_start: str | None = None
    handle: str | None = None
    name: str | None = None
    audience: int | None = None
    join_token: str | None = None
    url: str | None = None
    engagement: int | None = None
    received_at: str | None = None
    check: tuple[str, ...] = ()
    """Optional fields compared even when None (for example `("handle", "url")`)."""


@dataclass(frozen=True)
class Skip:
    """None: the payload carries nothing the bot should answer. `key` is the Telegram conversation
    the message would belong to (checked with `conversation_key`, for group messages)."""

    why: str
    key: str | None = None


@dataclass(frozen=True)
class Invalid:
    """`InvalidMessage` whose text contains `reason`."""

    reason: str
    why: str


Outcome = Msg | Skip | Invalid


@dataclass(frozen=True)
class Case:
    """How a fixture is fed to the parsers and what comes out.

    feed:
        telegram_update: a Telegram update, as a webhook body or one getUpdates item.
        telegram_message: a Telegram Message object, wrapped in an update.
        telegram_page: a getUpdates answer; `items` is per update_id, `default` for the rest.
        x_v2: an X API v2 answer; a list under `data` is split as the poller splits pages.
        x_dm_event: one v2 DM event object on its own (sent as `{"data": event}`).
        x_account_activity: an Account Activity webhook body; `items` per DM event id,
            `mentions` the tweet ids the adapter would read again through the v2 API.
        x_activity: an X Activity API envelope, opened by `activity_events` as the webhook
            does; `items` per DM event id, `expect` for a post.
    """

    feed: str
    brand: str | None = None
    expect: Outcome | None = None
    items: Mapping[Any, Outcome] = field(default_factory=dict)
    default: Outcome | None = None
    mentions: tuple[str, ...] = ()


NOT_ADDRESSED = "a group message that neither mentions the bot nor replies to it"
OUTDATED_SAMPLE = (
    "Telegram's example update predates User.is_bot, which the Bot API always sends and PTB requires"
)
DEFAULT_FIELDS = "recorded without the fields Firstline asks for"

X_DOCS_BRAND = "2244994945"
"""@XDevelopers (formerly @TwitterDev), the account X's documentation samples revolve around."""

CASES: dict[str, Case] = {
    # --- Telegram: teloxide's recorded updates ---------------------------------------------------
    "telegram/teloxide_private_text.json": Case(
        "telegram_update",
        expect=Msg(
            "218485655:6557",
            "chat:218485655",
            False,
            "218485655",
            text="hello there",
            handle="test_user_1",
            name="Test",
            received_at="2019-09-26T17:19:02+00:00",
            check=("url", "join_token"),
        ),
    ),
    "telegram/teloxide_supergroup_story.json": Case(
        "telegram_update",
        expect=Skip("a shared story: nothing describe() can read, so it is skipped like a service message"),
    ),
    "telegram/teloxide_supergroup_command_reply_to_story.json": Case(
        "telegram_update",
        expect=Skip(NOT_ADDRESSED, key="chat:-1001293752024:user:5964236329"),
    ),
    "telegram/teloxide_supergroup_pinned_message.json": Case(
        "telegram_update",
        expect=Skip("service message (pinned)"),
    ),
    "telegram/teloxide_supergroup_dice.json": Case("telegram_update", expect=Skip(NOT_ADDRESSED)),
    "telegram/teloxide_my_chat_member_kicked.json": Case(
        "telegram_update",
        expect=Skip("membership change of the bot, not a message"),
    ),
    "telegram/teloxide_message_private_text_emoji.json": Case(
        "telegram_message",
        expect=Msg(
            "250918540:199785",
            "chat:250918540",
            False,
            "250918540",
            text="Лол кек 😂",
            handle="test_user_5",
            name="Тест Пользователь",
        ),
    ),
    "telegram/teloxide_message_private_sticker.json": Case(
        "telegram_message",
        expect=Msg(
            "250918540:199787", "chat:250918540", False, "250918540", kind="sticker", text="[sticker 😡]"
        ),
    ),
    "telegram/teloxide_message_private_photo.json": Case(
        "telegram_message",
        expect=Msg("250918540:199791", "chat:250918540", False, "250918540", kind="media", text="[photo]"),
    ),
    "telegram/teloxide_message_private_photo_caption.json": Case(
        "telegram_message",
        expect=Msg(
            "27433968:3460", "chat:27433968", False, "27433968", text="www.example.com", handle="test_user_6"
        ),
    ),
    "telegram/teloxide_message_anonymous_admin.json": Case(
        "telegram_message",
        expect=Skip("sent on behalf of the group by an anonymous admin"),
    ),
    "telegram/teloxide_message_forum_topic_created.json": Case(
        "telegram_message",
        expect=Skip("service message (forum_topic_created)"),
    ),
    "telegram/teloxide_message_forum_topic_text.json": Case(
        "telegram_message",
        expect=Skip(
            NOT_ADDRESSED + " (its reply_to_message is the topic's opening service message)",
            key="chat:-1001847508954:topic:4:user:1253681278",
        ),
    ),
    "telegram/teloxide_message_forum_topic_closed.json": Case(
        "telegram_message",
        expect=Skip("service message (forum_topic_closed)"),
    ),
    # --- Telegram: TelegramBots' recorded getUpdates answers -------------------------------------
    "telegram/telegrambots_getupdates_private.json": Case(
        "telegram_page",
        items={
            259894298: Msg(
                "12345678:101", "chat:12345678", False, "12345678", text="hi", check=("join_token",)
            ),
            259894299: Msg("12345678:102", "chat:12345678", False, "12345678", text="hi"),
            259894300: Msg("12345678:103", "chat:12345678", False, "12345678", kind="media", text="[photo]"),
            259894301: Msg(
                "12345678:104", "chat:12345678", False, "12345678", kind="voice", text="[voice message]"
            ),
            259894302: Msg("12345678:105", "chat:12345678", False, "12345678", text="hi"),
            259894303: Msg(
                "12345678:106", "chat:12345678", False, "12345678", kind="media", text="[document aaa.txt]"
            ),
        },
    ),
    "telegram/telegrambots_getupdates_groups.json": Case(
        "telegram_page",
        items={
            259894302: Msg(
                "12345678:105",
                "chat:12345678",
                False,
                "12345678",
                text="hi",
                handle="Username",
                name="FirstName",
            ),
            259894303: Msg(
                "12345678:106",
                "chat:12345678",
                False,
                "12345678",
                kind="media",
                text="[document aaa.txt]",
                received_at="2020-11-01T10:28:00+00:00",
            ),
            259894309: Invalid(
                "Sticker",
                "recorded in 2020: the sticker lacks is_video and type, which "
                "the Bot API has sent since 2022 and PTB requires",
            ),
            259894311: Invalid(
                "persistent_id",
                "recorded in 2020: the poll lacks persistent_id, which PTB requires since Bot API 9.6",
            ),
            259894335: Skip(NOT_ADDRESSED, key="chat:-10011869112345:user:12345678"),
            259894338: Skip(NOT_ADDRESSED + " (an edit)"),
            259894341: Skip(NOT_ADDRESSED + " (replies to a person, not to the bot)"),
        },
        default=Skip("group service messages, live locations and their edits, contacts"),
    ),
    "telegram/telegrambots_getupdates_voice_chat.json": Case(
        "telegram_page",
        default=Skip("group service messages (group created, migrated, video chat started/invited/ended)"),
    ),
    # --- Telegram: the Bot API documentation's example updates -----------------------------------
    "telegram/docs_edited_message.json": Case("telegram_update", expect=Invalid("is_bot", OUTDATED_SAMPLE)),
    "telegram/docs_callback_query.json": Case("telegram_update", expect=Invalid("is_bot", OUTDATED_SAMPLE)),
    "telegram/docs_message_with_entities.json": Case(
        "telegram_update",
        expect=Invalid("is_bot", OUTDATED_SAMPLE),
    ),
    # --- X API v2: tweepy's cassettes -----------------------------------------------------------
    "x/tweepy_tweet_lookup_default_fields.json": Case(
        "x_v2",
        brand=X_DOCS_BRAND,
        expect=Invalid("has no author_id", DEFAULT_FIELDS),
    ),
    "x/tweepy_mentions_page_default_fields.json": Case(
        "x_v2",
        brand="783214",
        default=Invalid("has no author_id", DEFAULT_FIELDS),
    ),
    "x/tweepy_dm_events_page_default_fields.json": Case(
        "x_v2",
        brand="1072250532645998596",
        default=Invalid("has no sender_id", DEFAULT_FIELDS),
    ),
    # --- X API v2: X's documentation samples ----------------------------------------------------
    "x/docs_mentions_page.json": Case(
        "x_v2",
        brand=X_DOCS_BRAND,
        items={
            "1375152598945312768": Msg(
                "1375152598945312768",
                "thread:1375152449594523649",
                True,
                "1034147061711679488",
                text_start="@LeBraat @TwitterDev @LeGuud",
                handle="LeStaache",
                name="LeStache",
                url="https://twitter.com/LeStaache/status/1375152598945312768",
                check=("audience", "engagement"),
            ),
            "1375152449594523649": Msg(
                "1375152449594523649",
                "thread:1375152449594523649",
                True,
                "199566737",
                handle="LeBraat",
                name="Test Account",
            ),
            "1375152043455873027": Msg(
                "1375152043455873027",
                "thread:1375152043455873027",
                True,
                "930524282358325248",
                text="Can I join this @twitterdev love party?!",
            ),
            "1375151947360174082": Msg(
                "1375151947360174082", "thread:1375151947360174082", True, "1034147061711679488"
            ),
            "1375151827189137412": Msg(
                "1375151827189137412",
                "thread:1375151827189137412",
                True,
                "199566737",
                text="This is a test, but also a good excuse to express my love for @TwitterDev 😍",
            ),
        },
    ),
    "x/docs_tweets_lookup_reply.json": Case(
        "x_v2",
        brand="1000",
        items={
            # Asked without conversation_id or author expansion: the reply opens its own thread.
            "1212092628029698048": Msg(
                "1212092628029698048",
                "thread:1212092628029698048",
                True,
                "2244994945",
                text_start="We believe the best future version of our API",
                url="https://twitter.com/i/web/status/1212092628029698048",
                engagement=49,
                received_at="2019-12-31T19:26:16+00:00",
                check=("handle",),
            ),
        },
    ),
    "x/docs_dm_events_page_with_includes.json": Case(
        "x_v2",
        brand="906948460078698496",
        items={
            "1585047616894574596": Msg(
                "1585047616894574596",
                "dm:944480690",
                False,
                "944480690",
                text="Hello, just you!",
                handle="FloodSocial",
                name="API Demos",
                received_at="2022-10-25T23:16:15+00:00",
            ),
            "1581048670673260549": Msg(
                "1581048670673260549",
                "dm:944480690",
                False,
                "944480690",
                text="Simple Tweet link: https://t.co/IYFbRIdXHg",
            ),
            "1580705121553420292": Msg(
                "1580705121553420292",
                "dm:944480690",
                False,
                "944480690",
                text="Adding a new 1-to-1 Direct Message.",
                check=("join_token",),
            ),
        },
    ),
    "x/docs_dm_event_message_create.json": Case(
        # A message in a group conversation (1578398451921985538): read as a DM from its sender.
        "x_dm_event",
        brand="1000",
        expect=Msg(
            "1582838499983564806", "dm:944480690", False, "944480690", text="Hi everyone.", check=("handle",)
        ),
    ),
    "x/docs_dm_event_participants_join.json": Case(
        "x_dm_event",
        brand="1000",
        expect=Skip("a DM event other than a message"),
    ),
    "x/docs_dm_event_participants_leave.json": Case(
        "x_dm_event",
        brand="1000",
        expect=Skip("a DM event other than a message"),
    ),
    "x/pytwitter_dm_events_photo_link.json": Case(
        "x_v2",
        brand="1000",
        items={
            "1585321444547837956": Msg(
                "1585321444547837956",
                "dm:906948460078698496",
                False,
                "906948460078698496",
                text="Another photo https://t.co/J5KotyeIyd",
                received_at="2022-10-26T17:24:21+00:00",
            ),
        },
    ),
    # --- X API v2: other libraries' recordings --------------------------------------------------
    "x/kbravh_tweet_with_mentions.json": Case(
        "x_v2",
        brand="1000",
        expect=Msg(
            "1303753964291338240",
            "thread:1303753964291338240",
            True,
            "1143604512999034881",
            text_start="I've just created a Node.js CLI tool",
            handle="author",
            name="Test Author",
            url="https://twitter.com/author/status/1303753964291338240",
            engagement=0,
            received_at="2020-09-09T17:55:42+00:00",
        ),
    ),
    "x/kbravh_tweet_reply.json": Case(
        "x_v2",
        brand="1000",
        expect=Msg(
            "1511740301118951431",
            "thread:1511740254000226316",
            True,
            "1143604512999034881",
            text_start="Another valuable reference",
            engagement=1,
        ),
    ),
    "x/kbravh_tweet_with_photos.json": Case(
        "x_v2",
        brand="1000",
        expect=Msg(
            "1292845757297557505",
            "thread:1292845757297557505",
            True,
            "1343443016",
            text_start='"Dirt is matter out of place"',
            handle="illustr_ex",
            engagement=233,
        ),
    ),
    "x/twarc_quote_reply_page.json": Case(
        "x_v2",
        brand="337119125",
        items={
            "1576995594388000768": Msg(
                "1576995594388000768",
                "thread:1576994789110992896",
                True,
                "1494167419413094401",
                text="@sample_au Test \nhttps://t.co/rBFwqjVr6B",
                handle="example_rep",
                audience=107,
                engagement=2,
            ),
        },
    ),
    "x/twarc_retweet_page.json": Case("x_v2", brand="1000", default=Skip("a retweet")),
    "x/twarc_brand_tweet_page.json": Case("x_v2", brand=X_DOCS_BRAND, default=Skip("the brand's own tweet")),
    # --- X Account Activity API webhook bodies --------------------------------------------------
    "x/docs_aaa_direct_message_events.json": Case(
        "x_account_activity",
        items={
            "954491830116155396": Msg(
                "954491830116155396",
                "dm:3001969357",
                False,
                "3001969357",
                text="Hello World!",
                handle="sample_sender",
                name="Test Sender",
                audience=22,
                received_at="2018-01-19T23:12:40.557000+00:00",
            ),
        },
    ),
    "x/tock_aaa_direct_message_received.json": Case(
        "x_account_activity",
        items={
            "1090001495532191748": Msg(
                "1090001495532191748",
                "dm:707685546848550916",
                False,
                "707685546848550916",
                text="Plouf",
                handle="sample_customer",
                audience=7,
                received_at="2019-01-28T21:39:42.440000+00:00",
            ),
        },
    ),
    "x/tock_aaa_direct_message_sent_by_brand.json": Case(
        "x_account_activity",
        items={"1090238550052880394": Skip("the brand's own DM")},
    ),
    "x/tock_aaa_typing_indicator.json": Case("x_account_activity"),
    "x/tock_aaa_read_receipt.json": Case("x_account_activity"),
    "x/tock_aaa_tweet_mention.json": Case("x_account_activity", mentions=("1124287614780047362",)),
    "x/tock_aaa_tweet_reply_to_brand.json": Case("x_account_activity", mentions=("1124250964289044480",)),
    "x/tock_aaa_tweet_by_brand.json": Case("x_account_activity"),
    # --- X Activity API envelopes ----------------------------------------------------------------
    "x/docs_xaa_post_create.json": Case("x_activity", expect=Skip("the brand's own post")),
    "x/docs_xaa_post_mention_create.json": Case(
        "x_activity",
        expect=Msg(
            "2080765813578191303",
            "thread:2080765813578191303",
            True,
            "2222222222222222222",
            text="hey @ExampleUser",
            handle="OtherUser",
            audience=97,
            engagement=0,
            received_at="2026-07-24T21:23:23+00:00",
        ),
    ),
    "x/docs_xaa_post_reply_create.json": Case(
        "x_activity",
        expect=Msg(
            "2090000000000000001",
            "thread:2080761390344937796",
            True,
            "2222222222222222222",
            text_start="@ExampleUser Great post",
        ),
    ),
    "x/docs_xaa_post_quote_create.json": Case(
        "x_activity",
        expect=Msg(
            "2090000000000000002",
            "thread:2090000000000000002",
            True,
            "2222222222222222222",
            text_start="Adding some context to this.",
        ),
    ),
    "x/docs_xaa_post_repost_create.json": Case("x_activity", expect=Skip("a repost")),
    "x/docs_xaa_dm_received.json": Case(
        "x_activity",
        items={
            # The payload's users map wraps each v2 user in "data".
            "2080765901528535096": Msg(
                "2080765901528535096",
                "dm:2222222222222222222",
                False,
                "2222222222222222222",
                text="hello!",
                handle="OtherUser",
                audience=97,
                received_at="2026-07-24T21:23:44.372000+00:00",
            ),
        },
    ),
    "x/docs_xaa_dm_sent.json": Case("x_activity", items={"2080763914820927863": Skip("the brand's own DM")}),
    "x/docs_xaa_chat_received.json": Case("x_activity"),
    "x/docs_xaa_like_create.json": Case("x_activity"),
}


# --- running a fixture -----------------------------------------------------------------------------


def _fixture_names() -> list[str]:
    return sorted(str(p.relative_to(PAYLOADS)) for p in PAYLOADS.glob("*/*.json"))


def _load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def _outcome(read: Any) -> InboundMessage | InvalidMessage | None:
    """The parser's answer, with `InvalidMessage` caught as an answer; anything else propagates."""
    try:
        return read()
    except InvalidMessage as exc:
        return exc


def _check(got: InboundMessage | InvalidMessage | None, expected: Outcome, where: str) -> None:
    if isinstance(expected, Invalid):
        assert isinstance(got, InvalidMessage), f"{where}: expected InvalidMessage, got {got!r}"
        assert expected.reason in str(got), f"{where}: {got}"
        return
    assert not isinstance(got, InvalidMessage), f"{where}: refused: {got}"
    if isinstance(expected, Skip):
        assert got is None, f"{where}: expected to be skipped ({expected.why}), got {got!r}"
        return
    assert got is not None, f"{where}: skipped, expected a message"
    actual = {
        "id": got.platform_message_id,
        "key": got.conversation_key,
        "public": got.public,
        "user": got.customer.platform_user_id,
        "kind": got.kind,
        "text": got.text,
        "handle": got.customer.handle,
        "name": got.customer.display_name,
        "audience": got.customer.audience,
        "join_token": got.join_token,
        "url": got.url,
        "engagement": got.engagement,
        "received_at": got.received_at.isoformat(),
    }
    for name in ("id", "key", "public", "user", "kind"):
        assert actual[name] == getattr(expected, name), f"{where}: {name}"
    for name in ("text", "handle", "name", "audience", "join_token", "url", "engagement", "received_at"):
        wanted = getattr(expected, name)
        if wanted is not None or name in expected.check:
            assert actual[name] == wanted, f"{where}: {name}"
    if expected.text_start is not None:
        assert got.text.startswith(expected.text_start), f"{where}: text {got.text!r}"
    assert got.platform == ("telegram" if where.startswith("telegram/") else "x")
    assert got.received_at.tzinfo is not None, f"{where}: received_at is naive"


def _run_telegram_update(raw: dict[str, Any], expected: Outcome, where: str) -> None:
    _check(_outcome(lambda: read_update(to_update(raw), ME)), expected, where)
    if isinstance(expected, Skip) and expected.key is not None:
        message = to_update(raw).effective_message
        assert message is not None
        assert conversation_key(message) == expected.key, where


async def _split_page(page: dict[str, Any]) -> list[dict[str, Any]]:
    """The page as the poller hands it on: one `{"data": item, "includes": merged}` per item."""

    async def fetch(token: str | None) -> dict[str, Any]:
        assert token is None
        return page

    items, includes = await XAdapter._pages(fetch, more=lambda batch: False)
    return [{"data": item, "includes": includes} for item in items]


def _per_item(case: Case, key: Any, where: str) -> Outcome:
    expected = case.items.get(key, case.default)
    assert expected is not None, f"{where}: no expectation for item {key}"
    return expected


async def _run(name: str, case: Case) -> None:
    raw = _load(name)
    if case.feed == "telegram_update":
        assert case.expect is not None
        _run_telegram_update(raw, case.expect, name)
    elif case.feed == "telegram_message":
        assert case.expect is not None
        _run_telegram_update({"update_id": 1, "message": raw}, case.expect, name)
    elif case.feed == "telegram_page":
        assert raw["ok"] is True
        ids = [update["update_id"] for update in raw["result"]]
        assert set(case.items) <= set(ids), f"{name}: expectations for updates it does not hold"
        for update in raw["result"]:
            where = f"{name} update {update['update_id']}"
            _run_telegram_update(update, _per_item(case, update["update_id"], where), where)
    elif case.feed == "x_v2":
        if isinstance(raw["data"], list):
            events = await _split_page(raw)
            assert len(events) == len(raw["data"]), f"{name}: the poller dropped items"
            assert set(case.items) <= {e["data"]["id"] for e in events}
            for event in events:
                where = f"{name} item {event['data']['id']}"
                expected = _per_item(case, event["data"]["id"], where)
                _check(_outcome(lambda e=event: parse_event(e, case.brand)), expected, where)
        else:
            assert case.expect is not None
            _check(_outcome(lambda: parse_event(raw, case.brand)), case.expect, name)
    elif case.feed == "x_dm_event":
        assert case.expect is not None
        _check(_outcome(lambda: parse_event({"data": raw}, case.brand)), case.expect, name)
    elif case.feed == "x_account_activity":
        _run_account_activity(raw, case, name)
    elif case.feed == "x_activity":
        _run_activity_envelope(raw, case, name)
    else:
        pytest.fail(f"{name}: unknown feed {case.feed!r}")


def _run_account_activity(body: dict[str, Any], case: Case, name: str) -> None:
    brand = body["for_user_id"]
    converted = dm_events_v2(body)
    assert {event["data"]["id"] for event in converted} == set(case.items), f"{name}: DM events read"
    for event in converted:
        where = f"{name} DM {event['data']['id']}"
        _check(_outcome(lambda e=event: parse_event(e, brand)), case.items[event["data"]["id"]], where)
    assert mentioned_tweet_ids(body) == list(case.mentions), f"{name}: tweets to read again"


def _run_activity_envelope(envelope: dict[str, Any], case: Case, name: str) -> None:
    assert is_activity_envelope(envelope)
    brand, events = activity_events(envelope)
    assert brand == envelope["data"]["filter"]["user_id"]
    if case.expect is not None:
        (post,) = events
        _check(_outcome(lambda: parse_event(post, brand)), case.expect, name)
    else:
        assert {event["data"]["id"] for event in events} == set(case.items), f"{name}: events read"
        for event in events:
            where = f"{name} DM {event['data']['id']}"
            _check(_outcome(lambda e=event: parse_event(e, brand)), case.items[event["data"]["id"]], where)


# --- the tests -------------------------------------------------------------------------------------


def test_every_fixture_has_a_case() -> None:
    names = _fixture_names()
    assert len(names) >= 40
    assert sorted(CASES) == names, "tests/data/payloads and CASES must list the same files"


@pytest.mark.parametrize("name", sorted(CASES))
async def test_real_payload(name: str) -> None:
    await _run(name, CASES[name])


# --- what the recordings showed the parsers got wrong, now fixed ---------------------------------------


def test_tweet_text_is_unescaped() -> None:
    raw = _load("x/kbravh_tweet_with_photos.json")
    assert "&amp;" in raw["data"]["text"]
    message = parse_event(raw, "1000")
    assert message is not None
    assert message.text == html.unescape(raw["data"]["text"])
