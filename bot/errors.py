"""Firstline's exception hierarchy: one root, a few subclasses named for what went wrong."""

from __future__ import annotations

__all__ = [
    "BotError",
    "DeliveryFailed",
    "InvalidMessage",
    "ModelNotFound",
    "NotFound",
    "PlatformUnavailable",
    "SettingsError",
]


class BotError(Exception):
    """Root of every error Firstline raises on purpose."""


class SettingsError(BotError):
    """The configuration cannot work (a missing file, a bad URL)."""


class InvalidMessage(BotError):
    """An inbound payload was refused; the text is safe to show to the sender."""


class NotFound(BotError):
    """A case, handoff or conversation that was asked for does not exist."""


class ModelNotFound(BotError):
    """No trained Rasa model matches the project's data."""


class PlatformUnavailable(BotError):
    """A platform API could not be reached."""


class DeliveryFailed(BotError):
    """A platform refused an outgoing message."""
