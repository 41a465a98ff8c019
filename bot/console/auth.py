"""Who is signed in, and what they may do: passwords, sessions, CSRF tokens and role guards.

A session is a row in the store (`bot.store.console_sessions`): the cookie (Starlette's signed
cookie: HttpOnly, SameSite=Lax, Secure behind https) carries only its random id, and the row
holds the account and the CSRF token. Signing out, a new password or a disabled account deletes
rows, so the cookie stops working at once on every instance; a session also ends after an
absolute lifetime and after an idle timeout (settings). The account is read on every request,
so a role change takes effect at once too. Before signing in, the cookie holds only the login
form's CSRF token.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.console.password_policy import MAX_PASSWORD, check_password_rules
from bot.messages import utcnow
from bot.settings import Settings
from bot.store.accounts import Account
from bot.store.console_sessions import SessionStore, SignedIn
from bot.store.login_failures import LoginFailureStore

__all__ = [
    "ADMIN",
    "HASH_THREADS",
    "READ",
    "WORK",
    "Guard",
    "LoginThrottle",
    "check_password_rules",
    "csrf_token",
    "hash_password",
    "hash_password_off_loop",
    "login_csrf_ok",
    "needs_rehash",
    "rehash_password",
    "rehash_password_off_loop",
    "session_secret",
    "sign_in",
    "sign_out",
    "signed_in",
    "verify_password",
    "verify_password_off_loop",
]

logger = logging.getLogger(__name__)

READ = ("agent", "trainer", "admin")
"""Who may look at the queue and cases (trainers read what customers said)."""
WORK = ("agent", "admin")
"""Who may change cases: claim, reply, note, close."""
ADMIN = ("admin",)

SESSION_TOKEN = "sid"
"""The cookie's one entry once signed in: the session's random token."""
LOGIN_CSRF = "csrf"
"""The cookie's entry before signing in: the login form's CSRF token."""
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

Handler = Callable[[Request], Awaitable[Response]]


def hash_password(password: str, user_inputs: Sequence[str] = ()) -> str:
    """A hash of a password being set: refused (`WeakPassword`, a `ValueError`) unless the policy
    accepts it. Blocking: async handlers call `hash_password_off_loop`."""
    check_password_rules(password, user_inputs)
    return _hasher.hash(password)


def rehash_password(password: str) -> str:
    """A hash with today's parameters of a password that is already the account's: no policy,
    so an older, weaker password keeps working until its owner changes it. Blocking."""
    return _hasher.hash(password[:MAX_PASSWORD])


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password[:MAX_PASSWORD]) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


HASH_THREADS = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="argon2")
"""Argon2 is slow on purpose (tens of ms, 64 MiB each): run on the event loop it stalls every
request, /healthz included. A small pool of its own keeps the loop free and also bounds the CPU
and memory a flood of sign-ins can take (Starlette's shared pool would run 40 at once)."""


async def hash_password_off_loop(password: str, user_inputs: Sequence[str] = ()) -> str:
    """`hash_password` in the hashing threads: what async handlers call."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(HASH_THREADS, functools.partial(hash_password, password, user_inputs))


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    """`verify_password` in the hashing threads: what async handlers call."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(HASH_THREADS, verify_password, password_hash, password)


async def rehash_password_off_loop(password: str) -> str:
    """`rehash_password` in the hashing threads: what async handlers call."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(HASH_THREADS, rehash_password, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's: the sign-in replaces
    it while the password is at hand, so stronger settings reach every account over time."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def session_secret(settings: Settings) -> str:
    """The key that signs session cookies: the configured one, or one generated once and kept
    in the data directory, so restarts do not sign everybody out."""
    configured = getattr(settings, "session_secret", None)
    if configured is not None and configured.get_secret_value():
        return str(configured.get_secret_value())
    path = Path(settings.data_dir) / "session_secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when two instances start together on one data dir, the first key wins.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    logger.info("generated a session secret in %s", path)
    return secret


def signed_in(request: Request) -> SignedIn | None:
    """The request's live session, once `Guard` has found it."""
    found = getattr(request.state, "signed_in", None)
    return found if isinstance(found, SignedIn) else None


def csrf_token(request: Request) -> str:
    """The token forms and `X-CSRF-Token` must carry: the session's once signed in, else the
    login form's, kept in the cookie until signing in replaces it."""
    session = signed_in(request)
    if session is not None:
        return session.csrf_token
    token = request.session.get(LOGIN_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[LOGIN_CSRF] = token
    return token


def login_csrf_ok(request: Request, given: object) -> bool:
    expected = request.session.get(LOGIN_CSRF)
    return isinstance(expected, str) and isinstance(given, str) and secrets.compare_digest(given, expected)


async def _csrf_ok(request: Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached on the request: the handler reads it again for free
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given is not None and secrets.compare_digest(given, expected)


def sign_in(request: Request, sessions: SessionStore, account: Account) -> SignedIn:
    """A fresh session for the account: nothing from before signing in survives (no fixation)."""
    token, session = sessions.create(account.id)
    request.session.clear()
    request.session[SESSION_TOKEN] = token
    request.state.signed_in = session
    return session


def sign_out(request: Request, sessions: SessionStore) -> None:
    """Deletes the session's row: the cookie, and any copy of it, signs nobody in any more."""
    session = signed_in(request)
    if session is not None:
        sessions.end(session.key)
    request.session.clear()


def wants_json(request: Request) -> bool:
    if request.url.path.startswith(("/console/api/", "/api/")):
        return True
    return "application/json" in request.headers.get("accept", "") or request.headers.get(
        "content-type", ""
    ).startswith("application/json")


class Guard:
    """Decorators for console handlers: signed in, with one of the roles, and a CSRF token on
    every request that changes something."""

    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions

    def current_session(self, request: Request) -> SignedIn | None:
        found = signed_in(request)
        if found is not None:
            return found
        token = request.session.get(SESSION_TOKEN)
        if not isinstance(token, str):
            return None
        found = self.sessions.find(token)
        if found is None:
            request.session.pop(SESSION_TOKEN, None)  # ended or expired: the cookie goes too
            return None
        request.state.signed_in = found
        return found

    def current_user(self, request: Request) -> Account | None:
        found = self.current_session(request)
        return found.account if found is not None else None

    def __call__(self, roles: tuple[str, ...]) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def guarded(request: Request) -> Response:
                session = self.current_session(request)
                if session is None:
                    if wants_json(request):
                        return JSONResponse({"error": "sign in first"}, status_code=401)
                    target = quote(request.url.path, safe="/")
                    return RedirectResponse(f"/console/login?next={target}", status_code=303)
                user = session.account
                if user.role not in roles:
                    return _forbidden(request, "your role does not allow this")
                if request.method not in ("GET", "HEAD") and not await _csrf_ok(request, session.csrf_token):
                    return _forbidden(request, "missing or wrong CSRF token; reload the page")
                request.state.user = user
                return await handler(request)

            guarded.roles = roles  # type: ignore[attr-defined]  # read by the authorisation tests
            return guarded

        return decorate


def _forbidden(request: Request, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=403)
    return Response(
        f"<!doctype html><title>Forbidden</title><h1>403 Forbidden</h1><p>{message}.</p>"
        '<p><a href="/console/">Back to the queue</a></p>',
        status_code=403,
        media_type="text/html",
    )


def throttle_delay(failures: int) -> float:
    """Seconds to wait after the last of `failures` failed sign-ins: none for the first few,
    then doubling, at most 15 minutes."""
    if failures < LoginThrottle.FREE_ATTEMPTS:
        return 0.0
    return min(LoginThrottle.MAX_WAIT, 2.0 ** (failures - LoginThrottle.FREE_ATTEMPTS + 1))


class LoginThrottle:
    """Slows password guessing: after a few failures for one username, further attempts wait
    (doubling, at most 15 minutes). The counts are in the store, shared by every instance and
    never evicted to make room; a name's count is forgotten a day after its last failure."""

    FREE_ATTEMPTS = 5
    MAX_WAIT = 900.0

    def __init__(self, store: LoginFailureStore, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    def wait(self, username: str) -> float:
        now = self.clock()
        found = self.store.get(username, now)
        if found is None:
            return 0.0
        elapsed = (now - found.last_failed_at).total_seconds()
        return max(0.0, throttle_delay(found.failures) - elapsed)

    def failed(self, username: str) -> None:
        self.store.record(username, self.clock())

    def succeeded(self, username: str) -> None:
        self.store.clear(username)
