"""What each X API call costs: X bills per use, and a first-line bot calls it all day.

X's pay-per-use prices (docs.x.com, "X API pay-per-usage pricing", read December 2026) charge
reads per resource returned and writes per request. The ones Firstline meets:

| operation | what | USD |
| --- | --- | --- |
| `post_read` | each post a mentions page or a post lookup returns | 0.005 |
| `user_read` | each user a user lookup returns | 0.010 |
| `dm_event_read` | each DM event a DM page returns | 0.010 |
| `post_create` | a post (a public reply) | 0.015 |
| `post_create_with_url` | a post that carries a URL, such as the DM link | 0.200 |
| `dm_create` | a direct message | 0.015 |

X charges a resource read more than once in one UTC day only once, so every charge names the
resource it is for, and the spend ledger (`bot.store.spend`) counts each one once a day too.
Expanded objects (`includes`) are not counted: X's table prices the resources an endpoint
returns, and whether expansions are billed is not stated. Prices change; they are a setting
(`FIRSTLINE_X_PRICES`), and these are its defaults. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twitter_text import extract_urls

__all__ = ["DEFAULT_PRICES_USD", "OPERATIONS", "Charge", "read_charges", "write_charge"]

DEFAULT_PRICES_USD: Mapping[str, float] = {
    "post_read": 0.005,
    "user_read": 0.010,
    "dm_event_read": 0.010,
    "post_create": 0.015,
    "post_create_with_url": 0.200,
    "dm_create": 0.015,
}
OPERATIONS = tuple(DEFAULT_PRICES_USD)


@dataclass(frozen=True, slots=True)
class Charge:
    """One billable use: an operation on one resource (a post or DM event read, a post sent)."""

    operation: str
    resource_id: str


def read_charges(operation: str, body: Any) -> list[Charge]:
    """The charges of one read: one per resource in the response's `data` (an object or a list)."""
    data = body.get("data") if isinstance(body, dict) else None
    items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    return [
        Charge(operation, item["id"])
        for item in items
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


def write_charge(kind: str, text: str, created_id: str) -> Charge:
    """The charge of a post (`kind` "post") or a DM (`kind` "dm") that X created as `created_id`.

    A post is dearer when it carries a URL; X's own URL rules decide what one is (a bare
    `example.com/x` is one), as they do for the length.
    """
    if kind == "dm":
        return Charge("dm_create", created_id)
    return Charge("post_create_with_url" if extract_urls(text) else "post_create", created_id)
