"""Passwords: argon2 hashes that verify, refuse, and are upgraded at sign-in when the parameters
they were made with are not today's; a new password or a disabled account ends other sessions."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette

from bot.console import auth
from bot.console.auth import hash_password, needs_rehash, rehash_password, verify_password
from bot.service import Service
from bot.store.accounts import Account, AccountRepository
from tests.bot.console.conftest import PASSWORD, SignIn, csrf_from, signed_in_client

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


@pytest.mark.parametrize("password", ["short", "password", "x" * 1025])
def test_passwords_outside_the_rules_are_not_hashed(password: str) -> None:
    with pytest.raises(ValueError, match=r"a password is 12 to 1024 characters|common|guess"):
        hash_password(password)


def test_an_existing_weak_password_still_signs_in_and_is_rehashed_without_the_policy() -> None:
    old = WEAK.hash("password")  # set before the policy existed
    assert verify_password(old, "password")
    assert verify_password(rehash_password("password"), "password")


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


async def _signed_in(http: httpx.AsyncClient) -> bool:
    return (await http.get("/console/api/me")).status_code == 200


async def test_a_new_password_signs_out_the_accounts_other_sessions(
    app: Starlette, sign_in: SignIn, accounts: dict[str, Account]
) -> None:
    ana_desk, ana_phone, ben = await sign_in("ana"), await sign_in("ana"), await sign_in("ben")
    admin = await sign_in("ada")
    assert all([await _signed_in(c) for c in (ana_desk, ana_phone, ben)])

    changed = await admin.post(
        f"/console/admin/users/{accounts['agent'].id}", data={"password": "a new password"}
    )
    assert changed.status_code == 303
    assert not await _signed_in(ana_desk) and not await _signed_in(ana_phone)
    page = await ana_desk.get("/console/")
    assert page.status_code == 303 and page.headers["location"] == "/console/login?next=/console/"
    assert await _signed_in(ben) and await _signed_in(admin)

    # The new password signs in again; a role change afterwards signs nobody out.
    fresh = await signed_in_client(app, "ana", "a new password")
    try:
        assert await _signed_in(fresh)
        await admin.post(f"/console/admin/users/{accounts['agent'].id}", data={"role": "trainer"})
        assert (await fresh.get("/console/api/me")).json()["role"] == "trainer"
    finally:
        await fresh.aclose()


async def test_disabling_signs_out_for_good_and_an_admin_keeps_their_own_session(
    sign_in: SignIn, accounts: dict[str, Account]
) -> None:
    ben, admin, admin_elsewhere = await sign_in("ben"), await sign_in("ada"), await sign_in("ada")
    user = f"/console/admin/users/{accounts['agent2'].id}"
    assert (await admin.post(user, data={"active": "false"})).status_code == 303
    assert not await _signed_in(ben)
    assert (await admin.post(user, data={"active": "true"})).status_code == 303
    assert not await _signed_in(ben)  # enabling again does not revive the old session

    mine = f"/console/admin/users/{accounts['admin'].id}"
    assert (await admin.post(mine, data={"password": "my new password"})).status_code == 303
    assert await _signed_in(admin)
    assert not await _signed_in(admin_elsewhere)


async def test_an_upgraded_hash_signs_nobody_out(app: Starlette, service: Service) -> None:
    AccountRepository(service.repository.engine).create("olga", WEAK.hash(PASSWORD), "agent", "Olga")
    first = await signed_in_client(app, "olga")  # upgrades the hash
    second = await signed_in_client(app, "olga")
    try:
        assert await _signed_in(first) and await _signed_in(second)
    finally:
        await first.aclose()
        await second.aclose()


async def test_argon2_runs_in_worker_threads_not_on_the_event_loop(
    app: Starlette, sign_in: SignIn, accounts: dict[str, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow hash on the event loop stalls every request (the probe saw /healthz go from 4 ms to
    1 s under four clients failing to sign in). Every hash and verify must leave the loop's thread."""
    loop_thread = threading.current_thread()
    real = auth._hasher
    seen: list[tuple[str, threading.Thread]] = []

    class Recording:
        def verify(self, password_hash: str, password: str) -> bool:
            seen.append(("verify", threading.current_thread()))
            return real.verify(password_hash, password)

        def hash(self, password: str) -> str:
            seen.append(("hash", threading.current_thread()))
            return real.hash(password)

        def check_needs_rehash(self, password_hash: str) -> bool:
            return real.check_needs_rehash(password_hash)

    monkeypatch.setattr(auth, "_hasher", Recording())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://firstline.test"
    ) as http:
        token = csrf_from((await http.get("/console/login")).text)
        failures = [
            http.post("/console/login", data={"username": name, "password": "wrong", "csrf_token": token})
            for name in ("ana", "nobody", "ben", "ada")
        ]
        answers = await asyncio.gather(*failures, http.get("/healthz"))
        assert [a.status_code for a in answers] == [401, 401, 401, 401, 200]
    admin = await sign_in("ada")  # a successful sign-in verifies too
    created = await admin.post(
        "/console/admin/users", data={"username": "newbie", "password": "a fresh long passphrase"}
    )
    assert created.status_code == 303
    changed = await admin.post(
        f"/console/admin/users/{accounts['admin'].id}", data={"password": "my own new passphrase"}
    )
    assert changed.status_code == 303
    assert [kind for kind, _ in seen].count("verify") == 5
    assert [kind for kind, _ in seen].count("hash") == 2
    assert all(thread is not loop_thread for _, thread in seen), seen
