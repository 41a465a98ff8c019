"""How long to wait before trying again: one rule for every retry in Firstline.

Sending a reply, polling Telegram or X, and reconnecting all back off the same way: the pause
doubles with each failure in a row, up to a cap, and is never shorter than what the platform
asked for (Telegram's `retry_after`, X's rate-limit reset). Having one rule means one place to
read when an operator asks why nothing happened for five minutes.
"""

from __future__ import annotations

__all__ = ["MAX_BACKOFF", "backoff"]

MAX_BACKOFF = 300.0
"""No retry waits longer than five minutes by default, unless the platform itself asks for longer."""


def backoff(attempts: int, first: float, retry_after: float | None = None, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait after the `attempts`-th failure in a row: `first`, then doubling, at most
    `cap`, and never less than `retry_after`."""
    delay = min(first * 2 ** max(attempts - 1, 0), cap)
    return max(delay, retry_after or 0.0)
