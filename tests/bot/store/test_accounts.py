"""Console accounts on SQLite and PostgreSQL: creating, duplicates, disabling, roles, passwords."""

from __future__ import annotations

import pytest

from bot.console.auth import hash_password, verify_password
from bot.errors import NotFound
from bot.store import Repository
from bot.store.accounts import AccountExists, AccountRepository, InvalidAccount, normalise_username


@pytest.fixture
def accounts(repository: Repository) -> AccountRepository:
    return AccountRepository(repository.engine)


def test_an_account_is_created_with_a_normalised_name_and_can_sign_in(accounts: AccountRepository) -> None:
    password_hash = hash_password("correct horse battery")
    created = accounts.create("  Ana.Lopez ", password_hash, "agent", "  Ana   López ")
    assert (created.username, created.role, created.display_name, created.active) == (
        "ana.lopez",
        "agent",
        "Ana López",
        True,
    )
    assert created.last_login_at is None
    assert accounts.get(created.id) == created

    found = accounts.credentials("ANA.LOPEZ")
    assert found is not None
    account, stored_hash = found
    assert account == created and stored_hash == password_hash
    assert verify_password(stored_hash, "correct horse battery")
    assert not verify_password(stored_hash, "Correct horse battery")
    assert accounts.credentials("nobody") is None
    assert accounts.credentials("not a valid name!") is None

    accounts.record_login(created.id)
    signed_in = accounts.get(created.id)
    assert signed_in is not None and signed_in.last_login_at is not None


def test_the_display_name_defaults_to_the_username(accounts: AccountRepository) -> None:
    assert accounts.create("tara", "hash", "trainer").display_name == "tara"


def test_a_username_is_taken_whatever_its_case(accounts: AccountRepository) -> None:
    accounts.create("ana", "hash", "agent")
    with pytest.raises(AccountExists, match="the username 'ana' is taken"):
        accounts.create("ANA", "other hash", "admin")
    assert [(a.username, a.role) for a in accounts.all()] == [("ana", "agent")]
    assert accounts.count() == 1


@pytest.mark.parametrize(
    ("username", "role", "display_name", "message"),
    [
        ("", "agent", None, "a username is 1 to 64 characters"),
        ("-ana", "agent", None, "a username is 1 to 64 characters"),
        ("a" * 65, "agent", None, "a username is 1 to 64 characters"),
        ("ana lopez", "agent", None, "a username is 1 to 64 characters"),
        ("ana", "owner", None, "a role is one of agent, trainer, admin"),
        ("ana", "agent", "x" * 129, "a display name is 1 to 128 characters"),
    ],
)
def test_bad_accounts_are_refused(
    accounts: AccountRepository, username: str, role: str, display_name: str | None, message: str
) -> None:
    with pytest.raises(InvalidAccount, match=message):
        accounts.create(username, "hash", role, display_name)
    assert accounts.count() == 0


def test_usernames_compare_without_case_and_surrounding_space() -> None:
    assert normalise_username(" Ana_01 ") == "ana_01"


def test_disabling_changing_the_role_and_the_password(accounts: AccountRepository) -> None:
    ana = accounts.create("ana", hash_password("first password"), "agent", "Ana")
    ben = accounts.create("ben", hash_password("ben's password"), "agent", "Ben")

    disabled = accounts.update(ana.id, active=False)
    assert not disabled.active and accounts.get(ana.id) == disabled
    assert accounts.update(ana.id, active=True).active

    promoted = accounts.update(ana.id, role="admin", display_name="Ana L.")
    assert (promoted.role, promoted.display_name) == ("admin", "Ana L.")
    with pytest.raises(InvalidAccount, match="a role is one of"):
        accounts.update(ana.id, role="root")
    assert accounts.get(ana.id) == promoted

    accounts.update(ana.id, password_hash=hash_password("second password"))
    found = accounts.credentials("ana")
    assert found is not None
    assert verify_password(found[1], "second password")
    assert not verify_password(found[1], "first password")

    unchanged = accounts.get(ben.id)
    assert unchanged is not None and (unchanged.role, unchanged.active) == ("agent", True)
    assert accounts.update(ben.id) == unchanged  # nothing to change is not an error
    with pytest.raises(NotFound):
        accounts.update(9999, active=False)
    assert accounts.get(9999) is None
