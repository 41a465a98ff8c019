"""The one small interface every platform implements.

An adapter turns its platform's raw events into `InboundMessage`s and sends `OutboundMessage`s;
it owns its SDK client and nothing of that SDK leaks past it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from bot.messages import Customer, InboundMessage, OutboundMessage
from bot.text_limits import LIMITS, measure

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.settings import Settings
    from bot.store.spend import SpendLedger

__all__ = ["BaseAdapter", "Inbox"]


class Inbox(Protocol):
    """What a receiving adapter talks to: the gateway, and a durable place for its cursors.

    `receive` returns once the message is stored and handled (or refused with `InvalidMessage`,
    or recognised as a repeat), so an adapter that advances a platform cursor after it returns
    can never lose a message; an update that is no message at all is kept raw with
    `keep_unreadable` before it is acknowledged. Cursors (Telegram's update offset, X's `since_id`) live in
    Firstline's store, so they survive restarts and are shared by every instance.
    """

    async def receive(self, message: InboundMessage) -> Any: ...

    def cursor(self, name: str) -> str | None: ...

    def save_cursor(self, name: str, value: str) -> None: ...

    def lead(self, role: str, seconds: float) -> bool:
        """Whether this instance holds, or now takes, the lease on `role` for `seconds`: a job
        only one instance may do (polling one platform account). Asked again before each round,
        which renews it; when the holder dies, another instance takes over once it runs out."""
        ...

    def keep_unreadable(self, platform: str, external_id: str | None, raw: Any, error: str) -> None:
        """Keeps an update no parser could read, raw, for people to see; the adapter then
        acknowledges it. Raises when it could not be kept: the update must then come again."""
        ...


class BaseAdapter(ABC):
    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings, spend: SpendLedger | None = None) -> BaseAdapter | None:
        """The adapter, or None when its credentials are not configured.

        `spend` is where a platform that bills per use (X) counts what it spends; the others
        ignore it.
        """

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

    names_from_platform: ClassVar[bool] = True
    """Whether customers' display names come from the platform's own profiles (X, Telegram).

    Only such a name may be repeated in a public reply; a name the customer merely declared (the
    web channel's `display_name`) is used in private chats at most, so nobody can make the brand
    say whatever they typed as their "name" in public.
    """

    @property
    def char_limit(self) -> int:
        return LIMITS.get(self.name, 2000)

    def reply_budget(self, to: InboundMessage) -> int:
        """How much of `char_limit` a reply to `to` may use: less where the platform adds text
        of its own (X replies start with the customer's @handle)."""
        return self.char_limit

    def measure(self, text: str) -> int:
        return measure(text, self.name)

    def replies_held(self, to: InboundMessage) -> tuple[str, str] | None:
        """Why the bot may not answer `to` now, as (a handoff reason, words for the agent), or None.

        X past its daily budget may not post in public ("budget"); a Telegram Business chat whose
        connection is off or has no right to reply cannot be answered by the bot at all
        ("cannot_reply"). Such a message is stored and handed to a person without a bot turn.
        """
        return None

    def dm_link(self, customer: Customer, join_token: str) -> str | None:
        """A one-tap link into a private chat with the brand that joins the same case, if any."""
        return None

    def webhook_routes(self, inbox: Inbox) -> Sequence[BaseRoute]:
        """Starlette routes the service mounts for this platform's webhooks, if it uses any."""
        return ()

    async def start(self, inbox: Inbox) -> None:
        """Begins receiving (a polling task). Adapters driven by HTTP requests need nothing."""

    async def stop(self) -> None:
        """Stops receiving and releases the SDK client."""
