"""Passwords: argon2 hashes that verify, refuse, and are upgraded at sign-in when the parameters
they were made with are not today's."""

from __future__ import annotations

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from bot.console.auth import hash_password, needs_rehash, verify_password
from bot.service import Service
from bot.store.accounts import AccountRepository
from tests.bot.console.conftest import PASSWORD, csrf_from

WEAK = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
"""Cheaper parameters than the console's, as an older release might have used."""


def test_a_hash_verifies_its_own_password_only() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse battery ")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not a hash", "correct horse battery")
    assert not verify_password(stored, "x" * 100_000)  # cut to the maximum length, then refused


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_passwords_outside_the_rules_are_not_hashed(password: str) -> None:
    with pytest.raises(ValueError, match="a password is 8 to 1024 characters"):
        hash_password(password)


def test_only_hashes_with_other_parameters_need_a_rehash() -> None:
    assert not needs_rehash(hash_password("correct horse battery"))
    assert needs_rehash(WEAK.hash("correct horse battery"))
    assert needs_rehash("not a hash")
    assert verify_password(WEAK.hash("correct horse battery"), "correct horse battery")


async def test_signing_in_upgrades_an_old_hash(app: Starlette, service: Service) -> None:
    accounts = AccountRepository(service.repository.engine)
    old_hash = WEAK.hash(PASSWORD)
    account = accounts.create("olga", old_hash, "agent", "Olga")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://firstline.test"
    ) as http:
        fields = {"username": "olga", "password": "wrong password", "csrf_token": ""}
        fields["csrf_token"] = csrf_from((await http.get("/console/login")).text)
        assert (await http.post("/console/login", data=fields)).status_code == 401
        assert accounts.credentials("olga") == (account, old_hash)  # a wrong password changes nothing

        fields["password"] = PASSWORD
        assert (await http.post("/console/login", data=fields)).status_code == 303
    found = accounts.credentials("olga")
    assert found is not None
    new_hash = found[1]
    assert new_hash != old_hash and not needs_rehash(new_hash)
    assert verify_password(new_hash, PASSWORD)
