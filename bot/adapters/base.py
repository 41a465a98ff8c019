"""The one small interface every platform implements.

An adapter turns its platform's raw events into `InboundMessage`s and sends `OutboundMessage`s;
it owns its SDK client and nothing of that SDK leaks past it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.text_limits import LIMITS, measure

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["BaseAdapter"]


class BaseAdapter(ABC):
    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> BaseAdapter | None:
        """The adapter, or None when its credentials are not configured."""

    @abstractmethod
    def parse(self, raw: Any) -> InboundMessage | None:
        """One platform event as an `InboundMessage`; None for events that carry no message.

        Raises:
            InvalidMessage: the payload is malformed; the text says why.
        """

    @abstractmethod
    async def send(self, message: OutboundMessage) -> str:
        """Delivers `message`; returns the platform's id for it.

        Raises:
            DeliveryFailed: the platform refused the message.
            PlatformUnavailable: the platform could not be reached.
        """

    @property
    def char_limit(self) -> int:
        return LIMITS.get(self.name, 2000)

    def measure(self, text: str) -> int:
        return measure(text, self.name)

    def dm_link(self, customer: Customer, join_token: str) -> str | None:
        """A one-tap link into a private chat with the brand that joins the same case, if any."""
        return None

    async def start(self) -> None:
        """Begins receiving (polling, webhooks). Adapters driven by HTTP requests need nothing."""

    async def stop(self) -> None:
        """Stops receiving and releases the SDK client."""
