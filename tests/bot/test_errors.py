"""Each error says how a request it ends is answered: one table, for the web API and the console."""

from __future__ import annotations

import pytest

from bot.errors import (
    BotError,
    DeliveryFailed,
    Forbidden,
    InvalidMessage,
    LeaseLost,
    NotFound,
    PlatformUnavailable,
    Refused,
)
from bot.input_limits import InputError
from bot.store.casework import Conflict, InvalidInput


@pytest.mark.parametrize(
    ("error", "status", "shown"),
    [
        (InvalidMessage("the text is empty"), 422, "the text is empty"),
        (Forbidden("that is another customer"), 403, "that is another customer"),
        (NotFound("handoff 7"), 404, "not found: handoff 7"),
        (Conflict("someone else owns it"), 409, "someone else owns it"),
        (InvalidInput("a tag is 40 characters at most"), 422, "a tag is 40 characters at most"),
        (InputError(413, "the body is too large"), 413, "the body is too large"),
        (Refused(502, "the platform refused the reply"), 502, "the platform refused the reply"),
        # Our faults, not the caller's: a 500, whatever they say.
        (LeaseLost("turn 3"), None, "turn 3"),
        (DeliveryFailed("blocked"), None, "blocked"),
        (PlatformUnavailable("timeout"), None, "timeout"),
        (BotError("anything"), None, "anything"),
    ],
)
def test_an_error_states_its_status_and_what_the_caller_is_told(
    error: BotError, status: int | None, shown: str
) -> None:
    assert (error.status, error.public_message()) == (status, shown)
