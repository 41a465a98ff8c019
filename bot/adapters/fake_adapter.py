"""A platform that exists only in memory, for tests and benchmarks of everything behind adapters.

It records what it was asked to send and can be told to fail the next attempts the way real
platforms fail (unavailable, rate-limited, refusing), so delivery is tested without a network.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import TYPE_CHECKING, Any

from bot.adapters.base import BaseAdapter
from bot.errors import BotError, InvalidMessage
from bot.messages import InboundMessage, OutboundMessage
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.store.spend import SpendLedger

__all__ = ["FakeAdapter"]


class FakeAdapter(BaseAdapter):
    name = "fake"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.attempts = 0
        self._failures: deque[BotError] = deque()
        self._ids = itertools.count(1)

    @classmethod
    def from_settings(cls, settings: Settings, spend: SpendLedger | None = None) -> FakeAdapter:
        return cls()

    def parse(self, raw: Any) -> InboundMessage:
        if not isinstance(raw, InboundMessage):
            raise InvalidMessage("the fake platform only carries InboundMessage objects")
        return raw

    def fail_next(self, *errors: BotError) -> None:
        """The next sends raise these, one each, before sending works again."""
        self._failures.extend(errors)

    async def send(self, message: OutboundMessage) -> str:
        self.attempts += 1
        if self._failures:
            raise self._failures.popleft()
        self.sent.append(message)
        return f"fake-{next(self._ids)}"

    def dm_link(self, customer: Any, join_token: str) -> str:
        return f"https://fake.example/dm?join={join_token}"
