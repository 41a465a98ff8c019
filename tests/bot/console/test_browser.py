"""The console in real Chromium (Debian's, driven by Playwright): an agent's whole shift in one
case, against the real service on a local port with the real model."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.app import create_app
from bot.console.auth import hash_password
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import PROJECT_ROOT, Settings
from bot.store.accounts import AccountRepository
from tests.bot.console.conftest import PASSWORD
from tests.conftest import MODEL_CACHE

pytestmark = [pytest.mark.browser, pytest.mark.model]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
COMPLAINT = "@Kestrel my order never arrived, two weeks now and nobody answers 😡"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when missing (Playwright downloads nothing)."""
    if not CHROMIUM.exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"]):
            if shutil.which(command[0]) is None:
                break
            subprocess.run(command, env=env, capture_output=True, check=False)
        if not CHROMIUM.exists():
            subprocess.run(
                ["apt-get", "install", "-y", "chromium"], env=env, capture_output=True, check=False
            )
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed and `apt-get install -y chromium` did not install it")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path, rasa_runtime: RasaRuntime, model_path: Path) -> Iterator[tuple[str, Service]]:
    """The real app served by uvicorn on a free local port, in a thread."""
    port = _free_port()
    settings = Settings(
        data_dir=tmp_path,
        model_dir=MODEL_CACHE,
        tracker_store_url="memory",
        host="127.0.0.1",
        port=port,
        _env_file=None,
    )
    service = Service.build(settings, model_path, rasa=rasa_runtime)
    accounts = AccountRepository(service.repository.engine)
    password_hash = hash_password(PASSWORD)
    accounts.create("ana", password_hash, "agent", "Ana")
    accounts.create("ben", password_hash, "agent", "Ben")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service), host="127.0.0.1", port=port, ws="none", lifespan="on", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", service
    server.should_exit = True
    thread.join(timeout=30)


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/console/")
    expect(page).to_have_url(f"{base}/console/login?next=/console/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/console/")


def _customer_says(base: str, **body: object) -> dict:
    response = httpx.post(f"{base}/api/web/messages", json={"user": "alice", "display_name": "Alice", **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_agent_takes_a_complaint_from_queue_to_resolution(
    browser: Browser, live: tuple[str, Service]
) -> None:
    base, service = live
    ana = browser.new_context().new_page()
    _sign_in(ana, base, "ana")
    expect(ana.locator("#queue-rows")).to_contain_text("Nothing here")

    # The queue updates without a reload when the customer complains in public and then in private.
    public = _customer_says(base, text=COMPLAINT, public=True, audience=5400)
    assert public["handoff_id"]
    row = ana.locator(f'tr[data-handoff="{public["handoff_id"]}"]')
    expect(row).to_contain_text("Alice")
    expect(row).to_contain_text("complaint")
    expect(row).to_contain_text("left")  # the SLA clock
    token = service.repository.packet(public["handoff_id"])["join_token"]
    _customer_says(base, text="order 4839201, still nothing", public=False, join=token)
    expect(row).to_contain_text("2 messages")

    row.get_by_role("link", name="Alice").click()
    expect(ana).to_have_url(f"{base}/console/handoffs/{public['handoff_id']}")
    timeline = ana.locator("#timeline")
    expect(timeline).to_contain_text(COMPLAINT)
    expect(timeline).to_contain_text("understood complaint")
    expect(timeline).to_contain_text("order 4839201, still nothing")
    expect(timeline.locator(".author-bot")).to_have_count(1)  # what the bot already said
    expect(ana.locator(".why")).to_contain_text("A complaint")
    expect(ana.locator(".case-side")).to_contain_text("5,400 followers")
    ARTIFACTS.mkdir(exist_ok=True)
    ana.screenshot(path=str(ARTIFACTS / "case_view.png"), full_page=True)
    print(f"case view screenshot: {ARTIFACTS / 'case_view.png'}")

    ana.get_by_role("button", name="Claim").click()
    expect(ana.locator(".flash")).to_have_text("You own this handoff now.")
    expect(ana.locator("#case-state")).to_contain_text("owned by Ana")

    # A second agent sees the owner and cannot take the case over.
    ben = browser.new_context().new_page()
    _sign_in(ben, base, "ben")
    ben.goto(f"{base}/console/handoffs/{public['handoff_id']}")
    expect(ben.locator("#case-state")).to_contain_text("owned by Ana")
    expect(ben.get_by_role("button", name="Claim")).to_have_count(0)
    status = ben.evaluate(
        """async (id) => (await fetch(`/console/api/handoffs/${id}/claim`, {method: "POST",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": document.body.dataset.csrf},
            body: "{}"})).status""",
        public["handoff_id"],
    )
    assert status == 409

    # Ana answers in private; the counter counts against the web channel's limit.
    ana.get_by_label("private chat (web)").check()
    reply = "Hi Alice, I'm so sorry. I've found order 4839201 and a new parcel goes out today."
    ana.get_by_label("Your reply").fill(reply)
    expect(ana.locator("#counter")).to_have_text(f"{len(reply)} / 2000")
    ana.get_by_role("button", name="Send").click()
    expect(ana.locator(".flash")).to_have_text("Sent (private).")
    expect(ana.locator("#timeline .author-agent")).to_contain_text(reply)

    # The reply reached the customer's private chat on the web channel.
    chat = httpx.get(f"{base}/api/web/messages", params={"user": "alice", "public": "false"}).json()[
        "messages"
    ]
    assert [(m["author"], m["status"]) for m in chat if m["text"] == reply] == [("agent", "sent")]

    ana.get_by_label("Outcome").fill("replacement sent")
    ana.get_by_role("button", name="Resolve").click()
    expect(ana.locator("#case-state")).to_contain_text("resolved")
    expect(ana.locator("#case-state")).to_contain_text("replacement sent")
    assert service.repository.packet(public["handoff_id"])["status"] == "resolved"


def test_signed_out_visitors_and_agents_are_kept_out(browser: Browser, live: tuple[str, Service]) -> None:
    base, _ = live
    stranger = browser.new_context()
    assert stranger.request.get(f"{base}/console/api/queue").status == 401
    page = stranger.new_page()
    page.goto(f"{base}/console/admin/users")
    expect(page).to_have_url(f"{base}/console/login?next=/console/admin/users")

    agent = browser.new_context().new_page()
    _sign_in(agent, base, "ana")
    response = agent.goto(f"{base}/console/admin/users")
    assert response is not None and response.status == 403
    expect(agent.get_by_role("heading", name="403 Forbidden")).to_be_visible()
    expect(agent.get_by_role("link", name="Users")).to_have_count(0)
