"""Who is signed in, and what they may do: passwords, sessions, CSRF tokens and role guards.

Sessions are Starlette's signed cookies (HttpOnly, SameSite=Lax, Secure behind https). They carry
only the account id, its session version and a CSRF token; the account is read again on every
request, so disabling an account or changing its role takes effect at once on every instance,
and a new password signs out the sessions that were signed in with the old one.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.settings import Settings
from bot.store.accounts import Account, AccountRepository

__all__ = [
    "ADMIN",
    "READ",
    "WORK",
    "Guard",
    "LoginThrottle",
    "check_password_rules",
    "csrf_token",
    "hash_password",
    "keep_signed_in",
    "needs_rehash",
    "session_secret",
    "sign_in",
    "verify_password",
]

logger = logging.getLogger(__name__)

READ = ("agent", "trainer", "admin")
"""Who may look at the queue and cases (trainers read what customers said)."""
WORK = ("agent", "admin")
"""Who may change cases: claim, reply, note, close."""
ADMIN = ("admin",)

SESSION_USER = "uid"
SESSION_CSRF = "csrf"
SESSION_VERSION = "sv"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

Handler = Callable[[Request], Awaitable[Response]]


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password[:MAX_PASSWORD]) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


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


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return str(token)


async def _csrf_ok(request: Request) -> bool:
    expected = request.session.get(SESSION_CSRF)
    if not expected:
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached on the request: the handler reads it again for free
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given is not None and secrets.compare_digest(given, str(expected))


def sign_in(request: Request, account: Account) -> None:
    """A fresh session for the account: nothing from before signing in survives (no fixation)."""
    request.session.clear()
    request.session[SESSION_USER] = account.id
    request.session[SESSION_VERSION] = account.session_version
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)


def keep_signed_in(request: Request, account: Account) -> None:
    """After changing one's own password: this session carries on, the account's others end."""
    if request.session.get(SESSION_USER) == account.id:
        request.session[SESSION_VERSION] = account.session_version


def wants_json(request: Request) -> bool:
    if request.url.path.startswith(("/console/api/", "/api/")):
        return True
    return "application/json" in request.headers.get("accept", "") or request.headers.get(
        "content-type", ""
    ).startswith("application/json")


class Guard:
    """Decorators for console handlers: signed in, with one of the roles, and a CSRF token on
    every request that changes something."""

    def __init__(self, accounts: AccountRepository) -> None:
        self.accounts = accounts

    def current_user(self, request: Request) -> Account | None:
        user_id = request.session.get(SESSION_USER)
        if not isinstance(user_id, int):
            return None
        account = self.accounts.get(user_id)
        if account is None or not account.active:
            return None
        # Cookies from before session versions existed carry none; they count as version 0.
        if request.session.get(SESSION_VERSION, 0) != account.session_version:
            return None
        return account

    def __call__(self, roles: tuple[str, ...]) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def guarded(request: Request) -> Response:
                user = self.current_user(request)
                if user is None:
                    if wants_json(request):
                        return JSONResponse({"error": "sign in first"}, status_code=401)
                    target = quote(request.url.path, safe="/")
                    return RedirectResponse(f"/console/login?next={target}", status_code=303)
                if user.role not in roles:
                    return _forbidden(request, "your role does not allow this")
                if request.method not in ("GET", "HEAD") and not await _csrf_ok(request):
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


class LoginThrottle:
    """Slows password guessing: after a few failures for one username, further attempts wait
    (doubling, at most 15 minutes). Kept per instance, which is enough to make guessing slow."""

    FREE_ATTEMPTS = 5
    MAX_WAIT = 900.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}

    def wait(self, username: str) -> float:
        count, last = self._failures.get(username.lower(), (0, 0.0))
        if count < self.FREE_ATTEMPTS:
            return 0.0
        delay = min(self.MAX_WAIT, 2.0 ** (count - self.FREE_ATTEMPTS + 1))
        return max(0.0, last + delay - self._clock())

    def failed(self, username: str) -> None:
        key = username.lower()
        count, _ = self._failures.get(key, (0, 0.0))
        if len(self._failures) > 10_000:
            self._failures.clear()  # bounded memory under a flood of made-up names
        self._failures[key] = (count + 1, self._clock())

    def succeeded(self, username: str) -> None:
        self._failures.pop(username.lower(), None)
