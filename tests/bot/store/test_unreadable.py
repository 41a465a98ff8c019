"""Unreadable updates kept raw (`bot.store.unreadable`), on SQLite and PostgreSQL: whatever the
platform sent can be kept, a repeat is kept once, and the table stays bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from bot.messages import utcnow
from bot.store import Repository
from bot.store import unreadable as unreadable_module
from bot.store.unreadable import MAX_RAW_CHARS, UnreadableStore, as_text, names_account


def test_what_the_databases_refuse_in_text_is_kept_as_escapes(repository: Repository) -> None:
    store = UnreadableStore(repository.engine)
    raw = {
        "update_id": 9,
        "message": {"text": "hi \ud800 there\x00", "entities": [{"offset": 3, "length": 1}]},
    }
    assert store.keep("telegram", "9", raw, "malformed", utcnow())
    (kept,) = store.recent()
    assert (kept.platform, kept.external_id, kept.error) == ("telegram", "9", "malformed")
    assert "\\ud800" in kept.raw and "\\u0000" in kept.raw


def test_a_repeat_is_kept_once_and_an_update_without_an_id_by_its_digest(repository: Repository) -> None:
    store = UnreadableStore(repository.engine)
    now = utcnow()
    assert store.keep("telegram", "9", {"update_id": 9}, "bad", now)
    assert not store.keep("telegram", "9", {"update_id": 9}, "bad", now + timedelta(seconds=5))
    assert store.keep("x", "9", {"data": {"id": "9"}}, "bad", now)  # another platform's 9
    assert store.keep("x", None, {"data": "junk"}, "no id", now)
    assert not store.keep("x", None, {"data": "junk"}, "no id", now)
    assert [u.external_id[:7] for u in store.recent()] == ["sha256:", "9", "9"]


def test_what_is_not_json_is_kept_as_its_repr_and_huge_bodies_are_cut() -> None:
    assert as_text(object()).startswith('"<object object')
    assert len(as_text({"text": "a" * (MAX_RAW_CHARS * 2)})) == MAX_RAW_CHARS
    nested: list = []
    for _ in range(10_000):
        nested = [nested]
    assert as_text(nested) == "<list nested too deep to show>"


def test_only_the_newest_are_kept(repository: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unreadable_module, "KEEP", 3)
    store = UnreadableStore(repository.engine)
    for i in range(6):
        store.keep("telegram", str(i), {"update_id": i}, "bad", utcnow())
    store.keep("x", "1", {}, "bad", utcnow())
    assert [u.external_id for u in store.recent()] == ["1", "5", "4", "3"]


def test_a_store_that_cannot_keep_it_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.store import create_store_engine

    engine = create_store_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    with pytest.raises(OperationalError):
        UnreadableStore(engine).keep("telegram", "1", {}, "bad", utcnow())


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"message": {"from": {"id": 4242}, "chat": {"id": 4242}}}, True),  # Telegram
        ({"dm_event": {"sender_id": "4242"}}, True),  # X
        ({"data": {"author_id": "4242"}}, True),
        ({"user": {"id_str": "4242"}}, True),
        ({"message": {"from": {"id": 42420}}}, False),  # another account
        ({"message": {"text": "my order 4242 never came"}}, False),  # a number in the words
        ({"message": {"message_id": 17, "from": {"id": 99}}}, False),
    ],
)
def test_an_update_names_an_account_by_its_id(raw: dict, named: bool) -> None:
    assert names_account(as_text(raw), "4242") is named
