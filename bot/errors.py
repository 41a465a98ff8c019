"""Firstline's exception hierarchy: one root, a few subclasses named for what went wrong."""

from __future__ import annotations

__all__ = [
    "BotError",
    "DeliveryFailed",
    "Forbidden",
    "InvalidMessage",
    "ModelNotFound",
    "NotFound",
    "PlatformUnavailable",
    "Refused",
    "SettingsError",
]


class BotError(Exception):
    """Root of every error Firstline raises on purpose.

    `status` is the HTTP status that answers a request this error ended, for the errors that are
    the caller's to fix; None means a fault on our side, answered as a 500. Each kind of error
    states its own status here, so the web API and the console answer the same error alike.
    """

    status: int | None = None

    def public_message(self) -> str:
        """What the caller is told (the messages of errors with a status are safe to show)."""
        return str(self)


class Refused(BotError):
    """A request refused with the given status and a message safe to show to whoever sent it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SettingsError(BotError):
    """The configuration cannot work (a missing file, a bad URL)."""


class InvalidMessage(BotError):
    """An inbound payload was refused; the text is safe to show to the sender."""

    status = 422


class Forbidden(BotError):
    """The request is well formed but not allowed for who sent it (a web visitor naming another
    customer, an identity hash that does not match); the text is safe to show to the sender."""

    status = 403


class LeaseLost(BotError):
    """This instance's claim on a turn or an outgoing message has been taken over by another
    instance (it stalled past its lease): it must end nothing and send nothing more for it."""


class NotFound(BotError):
    """A case, handoff or conversation that was asked for does not exist."""

    status = 404

    def public_message(self) -> str:
        return f"not found: {self}"


class ModelNotFound(BotError):
    """No trained Rasa model matches the project's data."""


class PlatformUnavailable(BotError):
    """A platform API could not be reached or asked us to wait; trying again later may work.

    `retry_after` is the wait in seconds the platform asked for (a 429's reset time, Telegram's
    `retry_after`), when it said; the outbox waits at least that long before the next attempt.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryFailed(BotError):
    """A platform refused an outgoing message for good (bad request, blocked, forbidden).

    Trying again cannot help, so the outbox moves the message to the dead letters at once.
    """
