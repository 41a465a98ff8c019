"""Opening a complaint's handoff the way the bot does, for store and console tests."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot.store import CaseworkRepository, NewHandoff, Recorded


def open_complaint_handoff(
    engine: Engine,
    recorded: Recorded,
    *,
    topic: str | None = "delivery",
    priority: int = 70,
    summary: str = "summary",
    flags: tuple[str, ...] = (),
) -> int:
    return CaseworkRepository(engine).open(
        NewHandoff(
            case_id=recorded.case_id,
            trigger_message_id=recorded.message_id,
            reason="complaint",
            intent="complaint",
            topic=topic,
            priority=priority,
            summary=summary,
            flags=flags,
        )
    )
