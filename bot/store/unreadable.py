"""Updates no parser could read, kept raw: the platform is told they were taken, the updates
after them keep moving, and a person can still see what arrived.

Only a failure to keep one stops its acknowledgement (the platform then sends it again); a
repeat of an update already kept is recognised by its id and kept once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.store.models import UnreadableUpdate

__all__ = ["MAX_RAW_CHARS", "Unreadable", "UnreadableStore", "as_text", "names_account"]

MAX_RAW_CHARS = 64 * 1024
"""A kept update is cut here: enough to see what it was, not a place to store a flood."""
KEEP = 1000
"""The newest updates kept per platform; older ones go as new ones arrive."""


def names_account(raw: str, user_id: str) -> bool:
    """Whether a kept update (`as_text`) names the platform account `user_id` as an id: Telegram's
    `"from": {"id": 4242}`, X's `"sender_id": "4242"` or `"author_id"`, an `"id_str"`. A data
    subject's export and erasure look for them here, since no customer record points at an
    update nobody could read."""
    member = rf'"(?:[a-z_]*_)?id(?:_str)?":\s*"?{re.escape(user_id)}"?(?=[,}}\]])'
    return re.search(member, raw) is not None


def as_text(raw: Any) -> str:
    """The update as ASCII JSON, cut at `MAX_RAW_CHARS`: lone surrogates and NULs, which the
    databases refuse in text, become escapes, and what is not JSON is kept as its repr."""
    try:
        text = json.dumps(raw, ensure_ascii=True, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(raw).encode("ascii", "backslashreplace").decode("ascii")
        except RecursionError:
            text = f"<{type(raw).__name__} nested too deep to show>"
    return text[:MAX_RAW_CHARS]


@dataclass(frozen=True, slots=True)
class Unreadable:
    id: int
    platform: str
    external_id: str
    raw: str
    error: str
    received_at: datetime


class UnreadableStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def keep(self, platform: str, external_id: str | None, raw: Any, error: str, now: datetime) -> bool:
        """Keeps one unreadable update; False when the same update was kept before.

        Raises whatever the database raises when it cannot be kept: the caller must then not
        acknowledge the update, so the platform delivers it again.
        """
        text = as_text(raw)
        key = (external_id or "sha256:" + hashlib.sha256(text.encode()).hexdigest())[:128]
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(UnreadableUpdate).values(
                        platform=platform,
                        external_id=key,
                        raw=text,
                        error=error[:2000],
                        received_at=now,
                    )
                )
                newest = select(UnreadableUpdate.id).where(UnreadableUpdate.platform == platform)
                cutoff = conn.execute(
                    newest.order_by(UnreadableUpdate.id.desc()).offset(KEEP).limit(1)
                ).scalar_one_or_none()
                if cutoff is not None:
                    conn.execute(
                        delete(UnreadableUpdate).where(
                            UnreadableUpdate.platform == platform, UnreadableUpdate.id <= cutoff
                        )
                    )
        except IntegrityError:
            return False
        return True

    def recent(self, limit: int = 100) -> list[Unreadable]:
        """The newest kept updates of every platform, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(UnreadableUpdate).order_by(UnreadableUpdate.id.desc()).limit(limit)
            ).all()
        return [Unreadable(r.id, r.platform, r.external_id, r.raw, r.error, r.received_at) for r in rows]
