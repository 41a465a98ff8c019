"""Replays the outside probe of issue 12 against a running Firstline and prints what held.

    python bench/attack.py --model ~/.cache/firstline/models/firstline-<hash>.tar.gz
    python bench/attack.py --url http://127.0.0.1:8080 --agent ana:PASSWORD --agent ben:PASSWORD

By default the script starts its own instance: `firstline run` on a free loopback port with a
throwaway data directory, a fake Telegram Bot API (webhook mode: `FIRSTLINE_PUBLIC_URL` is the
loopback address) and a fake X API, with a fresh Telegram token, webhook secret, X consumer
secret, session secret and web identity secret, all set through `FIRSTLINE_` variables. It
creates three agent accounts with `firstline users create`. Two settings differ from the
defaults, and the table says so: `FIRSTLINE_TRUSTED_PROXIES=127.0.0.1`, so that each probe can
be its own client address (an `X-Forwarded-For` from the documentation ranges) and the web
channel's per-address limit counts only the flood probe's requests; and
`FIRSTLINE_RATE_LIMIT_LOGIN_PER_ADDRESS` raised, so that the failed-login probes reach Argon2
and the username throttle instead of stopping at the per-address limit. `--model` puts a
trained archive in the throwaway model directory (otherwise `firstline run` finds or trains one
in `FIRSTLINE_MODEL_DIR`).

`--url` probes an instance that is already running. Probes that need its log, its secrets or
its fake platforms (the Telegram webhook, the log, the correctly signed X events) are skipped
and the table says why; the console probes need agent accounts (`--agent USER:PASSWORD`, two
for the ownership probe; the last one is locked out for a few seconds by the throttle probe).
The weak-password probe always runs the local `firstline users create` on a throwaway store.

One row per finding of the issue, with its sub-probes beneath: what was tried, what a safe
service answers, what this one answered, and `held`, `FAILED` or `skipped`. The exit status is
1 when any probe got through (or could not run), else 0. Every request goes to 127.0.0.1, and
every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import model_store  # noqa: E402
from bot.adapters.web_identity import identity_hash  # noqa: E402
from tests.fakes.telegram_api import BOT_USER, FakeTelegramApi, group_chat, message, private_chat, user  # noqa: E402
from tests.fakes.x_api import FakeXApi  # noqa: E402

COMPLAINT = "@KestrelHelp my order never arrived, two weeks waiting and nobody answers 😡"
TG_COMPLAINT = f"@{BOT_USER['username']} my order never arrived, two weeks waiting and nobody answers 😡"
LOGIN_LIMIT = 100_000
"""The per-address sign-in limit of the script's own instance (default 20 a minute)."""
HEALTH_BUDGET_MS = 100.0


# --- results ------------------------------------------------------------------------------------


@dataclass
class Check:
    what: str
    expected: str
    observed: str
    held: bool | None
    """None: skipped (the reason is in `observed`)."""


@dataclass
class Finding:
    number: int
    title: str
    checks: list[Check] = field(default_factory=list)

    def check(self, what: str, expected: str, observed: object, held: bool) -> bool:
        self.checks.append(Check(what, expected, str(observed), held))
        return held

    def skip(self, what: str, expected: str, why: str) -> None:
        self.checks.append(Check(what, expected, why, None))

    @property
    def verdict(self) -> str:
        ran = [c.held for c in self.checks if c.held is not None]
        if not ran:
            return "skipped"
        return "held" if all(ran) else "FAILED"


def _mark(held: bool | None) -> str:
    return {True: "held", False: "FAILED", None: "skipped"}[held]


def print_table(findings: list[Finding], notes: list[str]) -> None:
    what, expected, observed = 46, 34, 44
    print(f"    {'probe':<{what}} -> {'expected':<{expected}} -> result")
    print("-" * (what + expected + observed + 25))
    for finding in findings:
        print(f"{finding.number:>2}. {finding.title:<{what + expected + observed + 9}} {finding.verdict}")
        for c in finding.checks:
            seen = c.observed if len(c.observed) <= observed else c.observed[: observed - 1] + "…"
            print(f"    {c.what:<{what}} -> {c.expected:<{expected}} -> {seen:<{observed}} {_mark(c.held)}")
    for note in notes:
        print(f"note: {note}")


# --- the target ---------------------------------------------------------------------------------


@dataclass
class Target:
    """What the probes know about the instance under attack."""

    url: str
    own: bool
    agents: list[tuple[str, str]]
    log: Path | None = None
    telegram: FakeTelegramApi | None = None
    telegram_secret: str = ""
    x: FakeXApi | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    identity_secret: str = ""
    _address: int = 0

    def address(self) -> str:
        """A client address of its own for each caller (believed only behind a trusted proxy)."""
        self._address += 1
        return f"198.51.100.{self._address % 250 + 1}"

    def client(self, address: str | None = None, cookies: bool = True) -> httpx.Client:
        """A client from an address of its own; `cookies=False` keeps none (each request is a
        new web visitor)."""
        headers = {"x-forwarded-for": address or self.address()}
        jar = None if cookies else CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, cookies=jar)


class Agent:
    """A signed-in console session: its cookie and the CSRF token of its pages."""

    def __init__(self, target: Target, username: str, password: str) -> None:
        self.http = target.client()
        self.username = username
        form = self.http.get("/console/login")
        token = _csrf_field(form.text)
        signed = self.http.post(
            "/console/login", data={"username": username, "password": password, "csrf_token": token}
        )
        if signed.status_code != 303:
            raise RuntimeError(f"{username} could not sign in ({signed.status_code})")
        page = self.http.get("/console/")
        found = re.search(r'data-csrf="([^"]+)"', page.text)
        if found is None:
            raise RuntimeError("no CSRF token on the console page")
        self.csrf = found.group(1)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, json=body or {}, headers={"x-csrf-token": self.csrf})

    def packet(self, handoff_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/handoffs/{handoff_id}")
        response.raise_for_status()
        return dict(response.json())

    def close(self) -> None:
        self.http.close()


def _csrf_field(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise RuntimeError("no csrf_token on the sign-in form")
    return found.group(1)


def _agents(target: Target, count: int) -> list[Agent] | None:
    if len(target.agents) < count:
        return None
    return [Agent(target, name, password) for name, password in target.agents[:count]]


def _say(http: httpx.Client, text: str, **fields: Any) -> httpx.Response:
    return http.post("/api/web/messages", json={"text": text, **fields})


def _join_token(reply_text: str) -> str | None:
    found = re.search(r"[?&]join=([\w-]+)", reply_text) or re.search(r"start=([\w-]+)", reply_text)
    return found.group(1) if found else None


def _x_signature(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _wait(condition: Callable[[], Any], seconds: float) -> Any:
    """`condition()` once it is truthy, polling for at most `seconds`; else its last value."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


# --- the probes, one per finding ------------------------------------------------------------------


def probe_x_forgery(target: Target) -> Finding:
    """1. The CRC endpoint signed anything, so it signed a made-up event that was then accepted."""
    finding = Finding(1, "Forged X event via CRC signing")
    http = target.client()
    if http.get("/webhooks/x", params={"crc_token": "probe"}).status_code == 404:
        finding.skip(
            "CRC signs an event body", "4xx, nothing signed", "no /webhooks/x: X not configured there"
        )
        return finding
    brand = target.x.brand["id"] if target.x else "1000"
    sender = "6660000000000000001"
    body = json.dumps(
        {
            "for_user_id": brand,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": str(secrets.randbelow(10**18)),
                    "created_timestamp": str(int(time.time() * 1000)),
                    "message_create": {
                        "target": {"recipient_id": brand},
                        "sender_id": sender,
                        "message_data": {"text": "my order never arrived, I want a refund NOW"},
                    },
                }
            ],
            "users": {sender: {"id_str": sender, "screen_name": "famous", "followers_count": 6_000_000}},
        },
        separators=(",", ":"),
    )
    crc = http.get("/webhooks/x", params={"crc_token": body})
    signed = crc.json().get("response_token") if crc.status_code == 200 else None
    finding.check(
        "CRC asked to sign a forged DM event", "4xx, nothing signed", crc.status_code, signed is None
    )
    if signed is not None:
        posted = http.post("/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": signed})
        finding.check(
            "the forged event posted with that signature",
            "403",
            posted.status_code,
            posted.status_code == 403,
        )
    # A bare number is in the base64 alphabet, so it is signed; as a body it must still be refused.
    number = http.get("/webhooks/x", params={"crc_token": "1"})
    token = number.json().get("response_token") if number.status_code == 200 else None
    if token:
        posted = http.post("/webhooks/x", content=b"1", headers={"x-twitter-webhooks-signature": token})
        finding.check(
            "CRC-signed '1' posted as an event",
            "4xx, not handled",
            posted.status_code,
            400 <= posted.status_code < 500,
        )
    unsigned = http.post("/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": "sha256=AAAA"})
    finding.check(
        "the forged event with a made-up signature", "403", unsigned.status_code, unsigned.status_code == 403
    )
    real = http.get("/webhooks/x", params={"crc_token": "Y3JjLXRva2VuLWZyb20tWA"})
    answer = real.json().get("response_token") if real.status_code == 200 else None
    secret = target.secrets.get("x_consumer_secret")
    expected = _x_signature(secret, b"Y3JjLXRva2VuLWZyb20tWA") if secret else None
    ok = answer is not None and (expected is None or hmac.compare_digest(answer, expected))
    finding.check("control: X's own kind of CRC token", "200, signed with the secret", real.status_code, ok)
    http.close()
    return finding


def probe_join_token(target: Target) -> Finding:
    """2. The invitation token in a public reply let anyone join the customer's case."""
    finding = Finding(2, "Join-token takeover by a stranger")
    victim, stranger = target.client(), target.client()
    public = _say(victim, COMPLAINT, public=True).json()
    token = _join_token(" ".join(r["text"] for r in public.get("replies", [])))
    if token is None:
        finding.check(
            "web: the public reply carries a join link", "a ?join= link", "no link in the reply", False
        )
        return finding
    joined = _say(stranger, "hi, it's me, what address is it going to?", join=token).json()
    took_over = joined.get("case_id") == public["case_id"] or joined.get("status") == "attached"
    finding.check(
        "web: a stranger posts with the token",
        "a case of its own, not 'attached'",
        f"case {joined.get('case_id')} vs {public['case_id']}, {joined.get('status')}",
        not took_over,
    )
    own = _say(victim, "here's my order number 4839201", join=token).json()
    finding.check(
        "control: the customer's own browser joins",
        "the same case",
        f"case {own.get('case_id')} vs {public['case_id']}",
        own.get("case_id") == public["case_id"],
    )
    victim.close()
    stranger.close()

    if target.telegram is None:
        finding.skip(
            "telegram: /start <token> from a stranger", "not joined", "needs the instance's webhook secret"
        )
        return finding
    agents = _agents(target, 1)
    if agents is None:
        finding.skip("telegram: /start <token> from a stranger", "not joined", "needs an agent account")
        return finding
    api, base = target.telegram, secrets.randbelow(10**8) + 10**9
    alice, bob, group = user(base, "Alice", "alice_k"), user(base + 1, "Bob"), group_chat(-(base + 2))
    before = len(api.sent())
    _telegram(target, message(group, alice, TG_COMPLAINT))
    acks = _wait(lambda: [s for s in api.sent()[before:] if s["chat_id"] == group["id"]], 30)
    token = _join_token(acks[0]["text"]) if acks else None
    if token is None:
        finding.check("telegram: the group reply carries a link", "a t.me ?start= link", "none", False)
        return finding
    _telegram(target, message(private_chat(bob), bob, f"/start {token}"))
    _telegram(target, message(private_chat(bob), bob, "what's the address on it?"))
    handoffs = agents[0].http.get("/api/handoffs").json()["handoffs"]
    case = next((h for h in handoffs if h["customer"]["id"] == str(alice["id"])), None)
    if case is None:
        finding.check("telegram: the group complaint opens a handoff", "a handoff", "none", False)
        return finding
    keys = {c["key"] for c in case["conversations"]}
    leaked = any("address on it" in m["text"] for m in case["messages"])
    finding.check(
        "telegram: a stranger sends /start <token>",
        "not in the case's chats",
        f"{len(keys)} chat(s); stranger's text in it: {'yes' if leaked else 'no'}",
        f"chat:{bob['id']}" not in keys and not leaked,
    )
    told = [s["text"] for s in api.sent() if s["chat_id"] == bob["id"]]
    finding.check(
        "telegram: what the bot told the stranger",
        "not 'a colleague has your case'",
        f"{len(told)} messages",
        all("colleague" not in t for t in told),
    )
    agents[0].close()
    return finding


def _telegram(target: Target, update_message: dict[str, Any]) -> httpx.Response:
    update = {"update_id": secrets.randbelow(10**9), "message": update_message}
    response = httpx.post(
        f"{target.url}/webhooks/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": target.telegram_secret},
        timeout=60,
    )
    return response


def probe_web_privacy(target: Target) -> Finding:
    """3. `GET /api/web/messages?user=<someone>` read anyone's chat; a POST as them wrote into it."""
    finding = Finding(3, "Another web visitor's chat")
    victim = target.client()
    name = f"alice-{secrets.token_hex(3)}"
    if target.identity_secret:
        victim.post(
            "/api/web/visitor",
            json={"identifier": name, "identifier_hash": identity_hash(target.identity_secret, name)},
        )
    else:
        name = str(victim.get("/api/web/visitor").json()["user"])
    secret_text = "my address is 12 Elm Street, order 4839201"
    said = _say(victim, secret_text)
    if said.status_code != 200:
        finding.check("the customer writes privately", "200", said.status_code, False)
        return finding
    mallory, stranger = target.client(), target.client(cookies=False)
    mallory.get("/api/web/visitor")
    for who, http in (("a visitor", mallory), ("no cookie", stranger)):
        read = http.get("/api/web/messages", params={"user": name})
        finding.check(
            f"read {name[:12]}… as {who}",
            "403, nothing shown",
            read.status_code,
            read.status_code == 403 and "Elm" not in read.text,
        )
    unsigned = base64.urlsafe_b64encode(json.dumps({"id": name}).encode()).decode()
    forged = httpx.get(
        f"{target.url}/api/web/messages",
        params={"user": name},
        headers={"cookie": f"firstline_visitor={unsigned}"},
    )
    finding.check(
        "read with an unsigned cookie naming them",
        "403, nothing shown",
        forged.status_code,
        forged.status_code == 403 and "Elm" not in forged.text,
    )
    claim = mallory.post("/api/web/visitor", json={"identifier": name, "identifier_hash": "0" * 64})
    finding.check(
        "claim their identity with a made-up hash", "403", claim.status_code, claim.status_code == 403
    )
    wrote = _say(mallory, "please send the refund to my other card", user=name)
    finding.check("write into their chat as a visitor", "403", wrote.status_code, wrote.status_code == 403)
    own = victim.get("/api/web/messages").json()["messages"]
    finding.check(
        "their chat afterwards",
        "only their own message and replies",
        f"{len(own)} messages",
        all("other card" not in m["text"] for m in own) and any("Elm" in m["text"] for m in own),
    )
    for http in (victim, mallory, stranger):
        http.close()
    return finding


def probe_ownership(target: Target) -> Finding:
    """4. `POST /api/handoffs/{id}/resolve` closed a case another agent owned, with no event."""
    finding = Finding(4, "Closing another agent's case via /api/handoffs")
    agents = _agents(target, 2)
    if agents is None:
        finding.skip("agent B resolves agent A's case", "409", "needs two agent accounts (--agent twice)")
        return finding
    owner, other = agents
    customer = target.client()
    handoff_id = _say(customer, "I was charged twice for the same order!!").json().get("handoff_id")
    if handoff_id is None:
        finding.check("a complaint opens a handoff", "a handoff id", "none", False)
        return finding
    claimed = owner.post(f"/console/api/handoffs/{handoff_id}/claim")
    finding.check("control: agent A claims the case", "200", claimed.status_code, claimed.status_code == 200)
    for action in ("resolve", "hand-back"):
        tried = other.post(f"/api/handoffs/{handoff_id}/{action}", {"outcome": "closed by someone else"})
        finding.check(
            f"agent B: POST /api/handoffs/{{id}}/{action}", "409", tried.status_code, tried.status_code == 409
        )
    status = other.packet(handoff_id)["status"]
    finding.check("the case afterwards", "still open", status, status == "open")
    closed = owner.post(f"/api/handoffs/{handoff_id}/resolve", {"outcome": "refunded"})
    page = owner.http.get(f"/console/handoffs/{handoff_id}").text
    recorded = closed.status_code == 200 and "refunded" in page
    finding.check(
        "control: the owner resolves; history shows it", "200, recorded", closed.status_code, recorded
    )
    for agent in agents:
        agent.close()
    customer.close()
    return finding


def _failed_logins(
    target: Target, workers: int, seconds: float, limit: int, names: Callable[[], str]
) -> list[int]:
    """Failed sign-ins from `workers` clients for at most `seconds` and `limit` attempts each."""
    statuses: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        with target.client() as http:
            token = _csrf_field(http.get("/console/login").text)
            for _ in range(limit):
                if time.monotonic() > deadline:
                    return
                fields = {
                    "username": names(),
                    "password": "wrong-" + secrets.token_hex(4),
                    "csrf_token": token,
                }
                code = http.post("/console/login", data=fields).status_code
                with lock:
                    statuses.append(code)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 90)
    return statuses


def _health_ms(http: httpx.Client, seconds: float, count: int = 400) -> list[float]:
    timings = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(timings) < count:
        started = time.perf_counter()
        http.get("/healthz")
        timings.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    return timings


def probe_login_dos(target: Target, seconds: float) -> Finding:
    """5. Argon2 on the event loop: four clients failing sign-ins pushed /healthz to about 1 s."""
    finding = Finding(5, "/healthz while failed sign-ins run")
    with target.client() as http:
        before = _health_ms(http, 3)
        statuses: list[int] = []
        flood = threading.Thread(
            target=lambda: statuses.extend(
                _failed_logins(target, 4, seconds, 500, lambda: "nobody-" + secrets.token_hex(4))
            ),
            daemon=True,
        )
        flood.start()
        time.sleep(1)  # the flood is under way
        during = _health_ms(http, seconds - 1.5)
        flood.join(seconds + 120)
    p50_before, p50_during = statistics.median(before), statistics.median(during)
    refused = sum(1 for s in statuses if s == 429)
    finding.check(
        "p50 of /healthz, idle",
        f"under {HEALTH_BUDGET_MS:.0f} ms",
        f"{p50_before:.1f} ms",
        p50_before < HEALTH_BUDGET_MS,
    )
    finding.check(
        "p50 of /healthz, 4 clients failing sign-ins",
        f"under {HEALTH_BUDGET_MS:.0f} ms",
        f"{p50_during:.1f} ms (p95 {_p95(during):.0f}); {len(statuses)} sign-ins, {refused} were 429",
        p50_during < HEALTH_BUDGET_MS,
    )
    return finding


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def probe_log_secrets(target: Target) -> Finding:
    """6. httpx's INFO lines printed the Bot API URL, bot token included."""
    finding = Finding(6, "Secrets in the instance's log")
    if target.log is None:
        finding.skip(
            "the Telegram token in the log", "absent", "needs the instance's log (own instance only)"
        )
        return finding
    log = target.log.read_text(encoding="utf-8", errors="replace")
    token = target.secrets["telegram_token"]
    finding.check(
        "control: the log shows Telegram at work",
        "'telegram adapter: connected'",
        f"{len(log.splitlines())} lines",
        "telegram adapter: connected" in log,
    )
    for name, value in target.secrets.items():
        finding.check(f"{name} in the log", "absent", f"{log.count(value)} times", value not in log)
    secret_part = token.split(":", 1)[1]
    finding.check(
        "the token's secret half in the log",
        "absent",
        f"{log.count(secret_part)} times",
        secret_part not in log,
    )
    return finding


def probe_flood(target: Target) -> Finding:
    """7. 60 anonymous complaints in 6 s all became handoffs, and a declared audience set priority."""
    finding = Finding(7, "Complaint flood and declared audience")
    address = target.address()
    with target.client(address, cookies=False) as http:
        codes, retry_after = [], []
        for n in range(30):
            response = _say(http, f"{COMPLAINT} #{n}", public=True)
            codes.append(response.status_code)
            if response.status_code == 429:
                retry_after.append(response.headers.get("retry-after", ""))
    accepted = codes.count(200)
    valid_retry = bool(retry_after) and all(r.isdigit() and 1 <= int(r) <= 3600 for r in retry_after)
    finding.check(
        "30 complaints from one address, fresh cookies",
        "429 + Retry-After after the limit",
        f"{accepted} accepted, {codes.count(429)} 429 (Retry-After {retry_after[:1]})",
        codes.count(429) > 0 and valid_retry and (accepted <= 20 or not target.own),
    )
    agents = _agents(target, 1)
    if agents is None:
        finding.skip("audience 10000000 from the web", "same priority as none", "needs an agent account")
        return finding
    priorities = []
    for fields in ({}, {"audience": 10_000_000}):
        with target.client() as http:
            said = _say(http, COMPLAINT, public=True, **fields)
        handoff_id = said.json().get("handoff_id") if said.status_code == 200 else None
        priorities.append(agents[0].packet(handoff_id)["priority"] if handoff_id else None)
    finding.check(
        "web complaint with audience 10000000",
        "same priority as without",
        f"priority {priorities[1]} vs {priorities[0]}",
        priorities[0] is not None and priorities[0] == priorities[1],
    )
    agents[0].close()
    return finding


def probe_logout(target: Target) -> Finding:
    """8. The session lived only in the signed cookie: a copy still worked after signing out."""
    finding = Finding(8, "A saved cookie after sign-out")
    agents = _agents(target, 1)
    if agents is None:
        finding.skip("the saved cookie after sign-out", "401", "needs an agent account")
        return finding
    agent = agents[0]
    saved = agent.http.cookies["firstline_session"]
    with httpx.Client(base_url=target.url, headers={"cookie": f"firstline_session={saved}"}) as copy:
        before = copy.get("/console/api/me").status_code
        finding.check("control: the copied cookie before", "200", before, before == 200)
        out = agent.post("/console/logout")
        finding.check("control: sign out", "303", out.status_code, out.status_code == 303)
        for path in ("/console/api/me", "/api/handoffs"):
            after = copy.get(path)
            finding.check(f"the copied cookie on {path}", "401", after.status_code, after.status_code == 401)
    agent.close()
    return finding


def probe_lockout(target: Target, names: int, seconds: float) -> Finding:
    """9. Failing on ~10k made-up names evicted the real account's lockout from memory."""
    finding = Finding(9, "Lockout vs failures on made-up names")
    if not target.agents:
        finding.skip("made-up names lift a lockout", "still locked", "needs an agent account")
        return finding
    victim, password = target.agents[-1]
    with target.client() as http:
        token = _csrf_field(http.get("/console/login").text)

        def attempt(secret: str) -> httpx.Response:
            return http.post(
                "/console/login", data={"username": victim, "password": secret, "csrf_token": token}
            )

        failures = [attempt("wrong-password").status_code for _ in range(5)]
        fifth = time.monotonic()
        locked = attempt(password)
        finding.check(
            f"5 failures for {victim}, then its password",
            "429 (throttled)",
            f"{failures} then {locked.status_code}",
            locked.status_code == 429 and "Too many failed attempts" in locked.text,
        )
        statuses = _failed_logins(target, 4, seconds, names, lambda: "made-up-" + secrets.token_hex(6))
        failed = statuses.count(401)
        # The 2-second wait after the 5th failure is over by now; if the 5 failures are still
        # counted, one more locks the account at once; if they were evicted, it does not.
        time.sleep(max(0.0, fifth + 2.5 - time.monotonic()))
        again = attempt("wrong-password").status_code
        after = attempt(password)
        finding.check(
            f"{failed} failures on made-up names, then 1 more",
            "429: the 5 earlier still count",
            f"{again} then {after.status_code}"
            + (f" ({len(statuses) - failed} names refused by a limit)" if len(statuses) != failed else ""),
            after.status_code == 429 and "Too many failed attempts" in after.text,
        )
    return finding


def probe_weak_passwords(data_dir: Path) -> Finding:
    """10. The policy was length only: `password`, `12345678` and eight spaces passed."""
    finding = Finding(10, "Weak passwords at `firstline users create`")
    for password in ("password", "12345678", " " * 8, "Password1234"):  # each run starts Python: ~20 s
        code, said = _users_create(data_dir, f"weak-{secrets.token_hex(3)}", password)
        finding.check(
            f"users create --password {password!r}", "refused", f"exit {code}: {said[:30]}", code != 0
        )
    code, said = _users_create(data_dir, f"strong-{secrets.token_hex(3)}", secrets.token_urlsafe(18))
    finding.check("control: a random 24-character password", "accepted", f"exit {code}", code == 0)
    return finding


def _answer(send: Callable[[], httpx.Response]) -> tuple[str, bool]:
    """What the service answered, and whether it was not a 5xx; a dropped connection counts as
    one (the request crashed its handler)."""
    try:
        code = send().status_code
    except httpx.TransportError as exc:
        return f"no answer ({type(exc).__name__})", False
    return str(code), code < 500


def probe_malformed(target: Target) -> Finding:
    """11. About 30 inputs gave a 5xx: deep nesting, lone surrogates, huge integers, `hours=²`."""
    finding = Finding(11, "Malformed input")
    deep = b"[" * 100_000
    json_headers = {"content-type": "application/json"}
    bodies = {
        "web: '[' * 100000": deep,
        "web: text '\\ud800'": b'{"text": "\\ud800"}',
        "web: display_name '\\ud800'": b'{"text": "hi", "display_name": "\\ud800"}',
        "web: join '\\ud800'": b'{"text": "hi", "join": "\\ud800"}',
        "web: audience 2**64": json.dumps({"text": "hi", "audience": 2**64}).encode(),
    }
    for what, body in bodies.items():
        with target.client() as http:  # a client each: a dropped connection spoils nothing else
            http.get("/api/web/visitor")
            post = functools.partial(http.post, "/api/web/messages", content=body, headers=json_headers)
            said, held = _answer(post)
            finding.check(what, "4xx (or ignored), not 5xx", said, held)
    with target.client() as http:
        http.get("/api/web/visitor")
        said, held = _answer(lambda: http.get("/api/web/messages", params={"after": str(2**63)}))
        finding.check("web: GET after=2**63", "4xx, not 5xx", said, held)
    agents = _agents(target, 1)
    if agents is None:
        finding.skip("console: id 2**63, hours=²", "4xx, not 5xx", "needs an agent account")
    else:
        for path in (f"/api/handoffs/{2**63}", "/api/metrics?hours=²", "/console/metrics?hours=²"):
            # A connection of its own: after an unhandled error the server drops the connection.
            get = functools.partial(agents[0].http.get, path, headers={"connection": "close"})
            said, held = _answer(get)
            finding.check(f"GET {path}", "4xx (or ignored), not 5xx", said, held)
        agents[0].close()
    if target.telegram is None:
        finding.skip("telegram webhook bodies", "4xx, not 5xx", "needs the instance's webhook secret")
    else:
        headers = {"X-Telegram-Bot-Api-Secret-Token": target.telegram_secret, **json_headers}
        someone = user(secrets.randbelow(10**8) + 2 * 10**9, "Sam")
        update = {
            "update_id": secrets.randbelow(10**9),
            "message": message(private_chat(someone), someone, "hi"),
        }
        surrogate = json.dumps(update).replace('"hi"', '"\\ud800"').encode()
        for what, body in (("telegram: '[' * 100000", deep), ("telegram: text '\\ud800'", surrogate)):
            url = f"{target.url}/webhooks/telegram"
            said, held = _answer(lambda: httpx.post(url, content=body, headers=headers, timeout=60))  # noqa: B023
            finding.check(what, "4xx or a logged skip, not 5xx", said, held)
    secret = target.secrets.get("x_consumer_secret")
    if secret is None:
        finding.skip("X webhook bodies, correctly signed", "4xx, not 5xx", "needs the X consumer secret")
    else:
        for what, body in (
            ("x: '[' * 100000, signed", deep),
            ("x: direct_message_events: 5, signed", b'{"for_user_id": "1", "direct_message_events": 5}'),
        ):
            signed = {"x-twitter-webhooks-signature": _x_signature(secret, body)}
            url = f"{target.url}/webhooks/x"
            said, held = _answer(lambda: httpx.post(url, content=body, headers=signed, timeout=60))  # noqa: B023
            finding.check(what, "4xx or a logged skip, not 5xx", said, held)
    return finding


def probe_display_name(target: Target) -> Finding:
    """12. `display_name: "Scammers!"` made the brand say "Thanks for telling us, Scammers!." in public."""
    finding = Finding(12, "A display name in a public reply")
    with target.client() as http:
        said = _say(http, COMPLAINT, public=True, display_name="Scammers!")
    text = " ".join(r["text"] for r in said.json().get("replies", [])) if said.status_code == 200 else ""
    finding.check(
        "web: public complaint as 'Scammers!'",
        "no 'Scammers' in the reply",
        f"{said.status_code}: {text[:40]!r}",
        said.status_code == 200 and "Scammers" not in text,
    )
    if target.telegram is None:
        finding.skip(
            "telegram: group complaint by 'Scammers!'",
            "no 'Scammers' in the reply",
            "needs the instance's webhook secret",
        )
        return finding
    api, base = target.telegram, secrets.randbelow(10**8) + 3 * 10**9
    scammer, group = user(base, "Scammers!"), group_chat(-(base + 1))
    _telegram(target, message(group, scammer, TG_COMPLAINT))
    replies = _wait(lambda: [s["text"] for s in api.sent() if s["chat_id"] == group["id"]], 30)
    finding.check(
        "telegram: group complaint by 'Scammers!'",
        "no 'Scammers' in the reply",
        f"{len(replies)} replies",
        bool(replies) and all("Scammers" not in t for t in replies),
    )
    return finding


# --- the instance ---------------------------------------------------------------------------------


def _firstline() -> list[str]:
    found = shutil.which("firstline")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def _users_create(data_dir: Path, username: str, password: str, role: str = "agent") -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(FIRSTLINE_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [*_firstline(), "users", "create", "--username", username, "--role", role, "--password-stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=data_dir,
        timeout=120,
    )
    said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return done.returncode, said.removeprefix("[firstline] ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def own_instance(work: Path, model: Path | None, log_level: str, timeout: float) -> Iterator[Target]:
    """`firstline run` with fake Telegram and X APIs, fresh secrets and three agent accounts."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = work / "var"
    data_dir.mkdir()
    token = f"{secrets.randbelow(10**9) + 10**9}:AA{secrets.token_urlsafe(30)}"
    fake_x = FakeXApi(
        bearer_token=secrets.token_urlsafe(24),
        consumer_key=secrets.token_urlsafe(18),
        consumer_secret=secrets.token_urlsafe(36),
        access_token=f"1000-{secrets.token_urlsafe(24)}",
        access_token_secret=secrets.token_urlsafe(30),
    ).start()
    with ExitStack() as stack:
        stack.callback(fake_x.stop)
        telegram = stack.enter_context(FakeTelegramApi(token=token).running())
        secret_values = {
            "telegram_token": token,
            "telegram_webhook_secret": secrets.token_urlsafe(24),
            "x_consumer_secret": fake_x.consumer_secret,
            "x_access_token_secret": fake_x.access_token_secret,
            "session_secret": secrets.token_urlsafe(32),
            "web_identity_secret": secrets.token_urlsafe(32),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
        env.update(
            PYTHONPATH=str(ROOT),
            FIRSTLINE_DATA_DIR=str(data_dir),
            FIRSTLINE_TRACKER_STORE_URL="memory",
            FIRSTLINE_PUBLIC_URL=url,
            FIRSTLINE_LOG_LEVEL=log_level,
            FIRSTLINE_TELEGRAM_TOKEN=token,
            FIRSTLINE_TELEGRAM_API_URL=telegram.base_url,
            FIRSTLINE_TELEGRAM_WEBHOOK_SECRET=secret_values["telegram_webhook_secret"],
            FIRSTLINE_X_BEARER_TOKEN=fake_x.bearer_token,
            FIRSTLINE_X_CONSUMER_KEY=fake_x.consumer_key,
            FIRSTLINE_X_CONSUMER_SECRET=fake_x.consumer_secret,
            FIRSTLINE_X_ACCESS_TOKEN=fake_x.access_token,
            FIRSTLINE_X_ACCESS_TOKEN_SECRET=fake_x.access_token_secret,
            FIRSTLINE_X_API_URL=fake_x.url,
            FIRSTLINE_SESSION_SECRET=secret_values["session_secret"],
            FIRSTLINE_WEB_IDENTITY_SECRET=secret_values["web_identity_secret"],
            FIRSTLINE_TRUSTED_PROXIES="127.0.0.1",
            FIRSTLINE_RATE_LIMIT_LOGIN_PER_ADDRESS=str(LOGIN_LIMIT),
        )
        if model is not None:
            models = work / "models"
            models.mkdir()
            (models / model_store.model_path(ROOT, models).name).symlink_to(model.resolve())
            env["FIRSTLINE_MODEL_DIR"] = str(models)
        elif os.environ.get("FIRSTLINE_MODEL_DIR"):
            env["FIRSTLINE_MODEL_DIR"] = os.environ["FIRSTLINE_MODEL_DIR"]
        agents = [(f"agent-{n}", secrets.token_urlsafe(18)) for n in "abc"]
        for name, password in agents:
            code, said = _users_create(data_dir, name, password)
            if code != 0:
                raise RuntimeError(f"could not create {name}: {said}")
        log = work / "firstline.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [*_firstline(), "run", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        stack.callback(_stop, process)
        _wait_ready(url, process, log, timeout)
        # The adapters connect in the background: Telegram sets its webhook, X reads /2/users/me.
        if not _wait(lambda: telegram.sent("setWebhook") and fake_x.requests_to("me"), 60):
            raise RuntimeError(f"the adapters did not connect:\n{log.read_text()[-2000:]}")
        yield Target(
            url=url,
            own=True,
            agents=agents,
            log=log,
            telegram=telegram,
            telegram_secret=secret_values["telegram_webhook_secret"],
            x=fake_x,
            secrets=secret_values,
            identity_secret=secret_values["web_identity_secret"],
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"firstline run exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"firstline run did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- main -----------------------------------------------------------------------------------------


def _account(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("USER:PASSWORD")
    return name, password


def run_probes(target: Target, args: argparse.Namespace, work: Path) -> list[Finding]:
    store = work / "users-probe"
    store.mkdir(exist_ok=True)
    probes: list[tuple[int, Callable[[], Finding]]] = [
        (1, lambda: probe_x_forgery(target)),
        (2, lambda: probe_join_token(target)),
        (3, lambda: probe_web_privacy(target)),
        (4, lambda: probe_ownership(target)),
        (5, lambda: probe_login_dos(target, args.flood_seconds)),
        (6, lambda: probe_log_secrets(target)),
        (7, lambda: probe_flood(target)),
        (8, lambda: probe_logout(target)),
        (9, lambda: probe_lockout(target, args.names, args.flood_seconds)),
        (10, lambda: probe_weak_passwords(store)),
        (11, lambda: probe_malformed(target)),
        (12, lambda: probe_display_name(target)),
    ]
    findings = []
    for number, probe in probes:
        if args.only and number not in args.only:
            continue
        started = time.monotonic()
        try:
            findings.append(probe())
        except Exception as exc:  # a probe that cannot run is reported, and the others still run
            broken = Finding(number, "(the probe itself failed)")
            broken.check(
                type(exc).__name__, "the probe runs", (str(exc) or repr(exc)).splitlines()[0][:80], False
            )
            findings.append(broken)
        print(f"[attack] probe {number}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="probe this running instance instead of starting one")
    parser.add_argument("--agent", type=_account, action="append", default=[], metavar="USER:PASSWORD")
    parser.add_argument("--model", type=Path, help="a trained model archive for the script's own instance")
    parser.add_argument("--log-level", default="DEBUG", help="the own instance's FIRSTLINE_LOG_LEVEL")
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument(
        "--flood-seconds", type=float, default=8.0, help="length of each failed-sign-in flood"
    )
    parser.add_argument(
        "--names", type=int, default=100, help="made-up names per client in the lockout probe"
    )
    parser.add_argument(
        "--only", type=lambda v: {int(n) for n in v.split(",")}, help="run only these probes: 1,5,9"
    )
    args = parser.parse_args()
    if args.flood_seconds > 120 or args.names > 5000:
        parser.error("keep the floods small: --flood-seconds at most 120, --names at most 5000")

    notes = []
    with tempfile.TemporaryDirectory(prefix="firstline-attack-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        if args.url:
            if not re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/?$", args.url):
                parser.error("--url must be a loopback address (http://127.0.0.1:PORT)")
            target = Target(url=args.url.rstrip("/"), own=False, agents=args.agent)
            notes.append(
                "X-Forwarded-For is believed only if the instance trusts 127.0.0.1; "
                "otherwise all probes share one client address's limits"
            )
        else:
            target = stack.enter_context(own_instance(work, args.model, args.log_level, args.start_timeout))
            notes.append(
                f"own instance: FIRSTLINE_TRUSTED_PROXIES=127.0.0.1 (each probe has its own X-Forwarded-For) "
                f"and FIRSTLINE_RATE_LIMIT_LOGIN_PER_ADDRESS={LOGIN_LIMIT} (default 20/min); "
                f"log level {args.log_level}"
            )
        notes.append("probe 10 runs the local `firstline users create` on a throwaway store")
        findings = run_probes(target, args, work)
    print_table(findings, notes)
    failed = [f.number for f in findings if f.verdict == "FAILED"]
    if failed:
        print(f"not held (got through, or the probe could not run): {', '.join(map(str, failed))}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
