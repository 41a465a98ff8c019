"""The password policy: long enough, not a common password, not easy to guess (zxcvbn score 3+)."""

from __future__ import annotations

import pytest

from bot.console.password_policy import WeakPassword, check_password_rules

REFUSED = [
    # (password, why): what the probe got accepted, and the usual suspects.
    ("password", "12 to 1024"),
    ("12345678", "12 to 1024"),
    (" " * 8, "12 to 1024"),
    (" " * 12, "only spaces"),
    ("\t \n" * 5, "only spaces"),
    ("x" * 1025, "12 to 1024"),
    ("passwordpassword", "guess|common"),
    ("Password1234", "common"),
    ("qwertyuiop123", "common"),
    ("1q2w3e4r5t6y", "common"),
    ("iloveyou12345", "common"),  # a common password with digits tacked on
    ("Summer2024!!", "common"),  # scores 3, but it is "summer" and a year
    ("monkey123456789", "common"),
    ("aaaaaaaaaaaa", "guess"),
    ("abcdefghijkl", "guess"),
    ("123456789012", "guess"),
    ("qwertyuiopas", "guess"),
    ("football1234", "common"),
]
ACCEPTED = [
    "correct horse battery staple",
    "correct horse battery",
    "test agent password",  # the shared test fixture's
    "a new password",  # 14 characters of common words, score 3
    "Tr0ub4dor&3xyz",
    "kestrel-support-2024",
    "x" * 11 + "Q7#pL2!vN0mz" * 80,  # long: the first 72 characters are scored
]


@pytest.mark.parametrize(("password", "why"), REFUSED)
def test_weak_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    with pytest.raises(WeakPassword, match=why):
        check_password_rules(password)


@pytest.mark.parametrize("password", ACCEPTED)
def test_passphrases_and_strong_passwords_are_accepted(password: str) -> None:
    check_password_rules(password)


def test_a_password_made_of_the_username_is_refused() -> None:
    check_password_rules("anatolia.kowalska")
    with pytest.raises(WeakPassword):
        check_password_rules("anatolia.kowalska", user_inputs=["anatolia.kowalska", "Anatolia"])
