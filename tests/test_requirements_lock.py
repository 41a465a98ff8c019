"""The dependency lock pins each package by the hashes of its files, so a replaced file fails."""

from __future__ import annotations

import re

from bot.settings import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"


def _pins(text: str) -> dict[str, list[str]]:
    """Each pinned requirement with the hashes written under it."""
    pins: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            current = line.split(" ")[0]
            pins[current] = []
        elif current and (found := re.match(r"\s+--hash=sha256:(\S+)", line)):
            pins[current].append(found.group(1))
    return pins


def test_every_pin_carries_the_hashes_of_its_files() -> None:
    text = LOCK.read_text(encoding="utf-8")
    pins = _pins(text)
    assert len(pins) > 100 and all("==" in name for name in pins)
    unhashed = [name for name, hashes in pins.items() if not hashes]
    assert unhashed == [], f"pins without hashes (regenerate with --generate-hashes): {unhashed}"
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for hashes in pins.values() for h in hashes)
    assert "--generate-hashes" in text.splitlines()[1]
