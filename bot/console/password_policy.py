"""Which new passwords the console accepts: long enough, and not one people guess first.

The probe found `password`, `12345678` and eight spaces accepted. The rule now, applied whenever a
password is set (`firstline users create/set-password`, the Users page, one's own change) and
never at sign-in, so existing accounts keep working until their password is next changed:

- 12 to 1024 characters, and not only whitespace;
- not in zxcvbn's list of the 30,000 most common passwords, lowercased, nor after stripping the
  digits, spaces and punctuation people tack on at the end (`Summer2024!!` is `summer`);
- a zxcvbn score of at least 3 ("safely unguessable", about 10^8 guesses or more), which refuses
  repeats, keyboard walks, sequences, dates and dictionary words with a digit appended.

Measured with zxcvbn 4.5 before choosing: `passwordpassword`, `aaaaaaaaaaaa`, `abcdefghijkl`,
`123456789012`, `qwertyuiopas`, `1q2w3e4r5t6y`, `Password1234` and `monkey123456789` all score 0
or 1; `summer2024!!` scores 3 but is `summer` with digits tacked on, hence the second rule;
passphrases of three or four common words (`correct horse battery staple`, `my new password`)
score 3 or 4 and are accepted, as they should be. Checking a password takes a few milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "MIN_SCORE", "WeakPassword", "check_password_rules"]

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MIN_SCORE = 3
"""zxcvbn's 0-4 scale; 3 is "safely unguessable: moderate protection from offline slow-hash
scenario" (>= 10^8 guesses), which argon2 makes slow."""
_ZXCVBN_MAX = 72
"""zxcvbn refuses longer input (its matching is super-linear); the first 72 characters decide."""
_TACKED_ON = "0123456789 \t!?.,;:-_*#@$%&+=~"


class WeakPassword(ValueError):
    """A new password the policy refuses; the message says why, for the person choosing it."""


@functools.lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_rules(password: str, user_inputs: Sequence[str] = ()) -> None:
    """Raises `WeakPassword` unless `password` may be set. `user_inputs` (the username, the
    display name) count as known words: a password built from them is easy to guess."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.strip():
        raise WeakPassword("a password cannot be only spaces")
    lowered = password.lower()
    if lowered in _common() or lowered.rstrip(_TACKED_ON) in _common():
        raise WeakPassword("that is one of the most common passwords; choose another")
    inputs = [value for value in user_inputs if value]
    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        warning = str(result["feedback"].get("warning") or "").rstrip(".")
        why = f" ({warning[:1].lower()}{warning[1:]})" if warning else ""
        raise WeakPassword(
            f"that password is too easy to guess{why}; a few unrelated words make a strong one"
        )
