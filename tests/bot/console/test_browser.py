"""The console in real Chromium (Debian's, driven by Playwright): an agent's whole shift in one
case, against the real service on a local port with the real model."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.app import create_app
from bot.console.auth import hash_password
from bot.rasa_runtime import RasaRuntime
from bot.service import Service
from bot.settings import PROJECT_ROOT, Settings
from bot.store.accounts import AccountRepository
from bot.store.review import ReviewInbox
from tests.bot.console.conftest import PASSWORD
from tests.conftest import MODEL_CACHE
from tests.fakes.understood import store_understood
from tests.fakes.web_visitor import WEB_IDENTITY_SECRET, visitor_client

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


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, rasa_runtime: RasaRuntime, model_path: Path
) -> Iterator[tuple[str, Service]]:
    """The real app served by uvicorn on a free local port, in a thread: one per module, so
    tests share it (each works with customers of its own)."""
    port = _free_port()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("live"),
        model_dir=MODEL_CACHE,
        tracker_store_url="memory",
        host="127.0.0.1",
        port=port,
        web_identity_secret=WEB_IDENTITY_SECRET,
        web_audience_cap=10_000,  # the case view shows the followers a customer declared
        _env_file=None,
    )
    service = Service.build(settings, model_path, rasa=rasa_runtime)
    accounts = AccountRepository(service.repository.engine)
    password_hash = hash_password(PASSWORD)
    accounts.create("ana", password_hash, "agent", "Ana")
    accounts.create("ben", password_hash, "agent", "Ben")
    accounts.create("tara", password_hash, "trainer", "Tara")
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
    fields: dict[str, object] = {"user": "alice", "display_name": "Alice", **body}
    with visitor_client(base, str(fields["user"])) as customer:
        response = customer.post("/api/web/messages", json=fields)
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
    token = service.casework.packet(public["handoff_id"])["join_token"]
    # Alice's own browser (her signed visitor cookie) follows the invitation: the same case.
    private = _customer_says(base, text="order 4839201, still nothing", public=False, join=token)
    assert private["case_id"] == public["case_id"]
    expect(row).to_contain_text("2 messages")

    row.get_by_role("link", name="Alice").click()
    expect(ana).to_have_url(f"{base}/console/handoffs/{public['handoff_id']}")
    timeline = ana.locator("#timeline")
    expect(timeline).to_contain_text(COMPLAINT)
    expect(timeline).to_contain_text("understood complaint")
    expect(timeline).to_contain_text("order 4839201, still nothing")
    # What the bot already said: the public acknowledgement, and the note in the private chat.
    expect(timeline.locator(".author-bot")).to_have_count(2)
    expect(ana.locator(".unverified")).to_have_count(0)
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
    with visitor_client(base, "alice") as alice:
        chat = alice.get("/api/web/messages", params={"user": "alice", "public": "false"}).json()["messages"]
    assert [(m["author"], m["status"]) for m in chat if m["text"] == reply] == [("agent", "sent")]

    ana.get_by_label("Outcome").fill("replacement sent")
    ana.get_by_role("button", name="Resolve").click()
    expect(ana.locator("#case-state")).to_contain_text("resolved")
    expect(ana.locator("#case-state")).to_contain_text("replacement sent")
    assert service.casework.packet(public["handoff_id"])["status"] == "resolved"


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


GIBBERISH = "blorp zxcvq wibble frob"


def test_a_trainer_corrects_what_the_model_was_unsure_about(
    browser: Browser, live: tuple[str, Service]
) -> None:
    base, service = live
    _customer_says(base, user="gus", display_name="Gus", text="hi there")
    unsure = _customer_says(base, user="gus", display_name="Gus", text=GIBBERISH)
    inbox = ReviewInbox(service.repository.engine)
    [item] = [i for i in inbox.items() if i.message_id == unsure["message_id"]]
    assert item.source == "unsure"

    tara = browser.new_context().new_page()
    _sign_in(tara, base, "tara")
    tara.get_by_role("link", name="Review inbox").click()
    expect(tara).to_have_url(f"{base}/console/review")
    tara.get_by_role("link", name=GIBBERISH).click()
    expect(tara).to_have_url(f"{base}/console/review/{item.id}")
    expect(tara.locator("blockquote.review-text")).to_have_text(GIBBERISH)
    expect(tara.get_by_text("Model's guess:")).to_contain_text(f"{item.guess} (")
    around = tara.locator("ol.timeline")
    expect(around.locator(".review-focus")).to_contain_text(GIBBERISH)
    expect(around.locator(".author-customer").first).to_contain_text("hi there")
    expect(around.locator(".author-bot")).to_have_count(2)  # the greeting's answer and the "not sure"

    tara.get_by_label("Intent").fill("out_of_scope")
    tara.get_by_role("button", name="Save correction").click()
    expect(tara.locator(".flash")).to_contain_text(f"Item {item.id}:")
    expect(tara.locator(".flash")).to_contain_text("as out_of_scope.")
    done = inbox.item(item.id)
    assert (done.status, done.corrected_intent) == (
        "confirmed" if item.guess == "out_of_scope" else "corrected",
        "out_of_scope",
    )

    tara.goto(f"{base}/console/review")
    expect(tara.get_by_role("link", name="Review inbox")).to_be_visible()
    expect(tara.locator("main")).not_to_contain_text(GIBBERISH)
    tara.get_by_role("link", name=f"{done.status.capitalize()} (").click()
    expect(tara.locator("table.review")).to_contain_text(GIBBERISH)
    expect(tara.locator("table.review")).to_contain_text(f"{done.status}: out_of_scope")


def test_an_agent_relabels_a_message_for_the_trainers_but_cannot_review(
    browser: Browser, live: tuple[str, Service]
) -> None:
    base, service = live
    text = "you took the money twice for one order, sort it out"
    complaint = _customer_says(base, user="dora", display_name="Dora", text=text, public=False)
    assert complaint["handoff_id"]

    ana = browser.new_context().new_page()
    _sign_in(ana, base, "ana")
    expect(ana.get_by_role("link", name="Review inbox")).to_have_count(0)
    ana.goto(f"{base}/console/handoffs/{complaint['handoff_id']}")
    message = ana.locator(f'#timeline li[data-message="{complaint["message_id"]}"]')
    message.get_by_text("Wrong label?").click()
    message.get_by_label("The customer meant").fill("complaint/billing")
    message.get_by_role("button", name="Send to trainers").click()
    expect(ana).to_have_url(f"{base}/console/handoffs/{complaint['handoff_id']}")
    expect(ana.locator(".flash")).to_contain_text("in the trainers' review inbox")

    [item] = [
        i for i in ReviewInbox(service.repository.engine).items() if i.message_id == complaint["message_id"]
    ]
    assert (item.source, item.suggested_intent, item.status) == ("relabelled", "complaint/billing", "open")
    for path in ("/console/review", f"/console/review/{item.id}"):
        response = ana.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
        expect(ana.get_by_role("heading", name="403 Forbidden")).to_be_visible()

    tara = browser.new_context().new_page()
    _sign_in(tara, base, "tara")
    tara.goto(f"{base}/console/review")
    row = tara.locator("table.review tr", has_text=text)
    expect(row).to_contain_text("agent says complaint/billing")
    row.get_by_role("link").click()
    expect(tara.get_by_role("button", name="Confirm complaint/billing")).to_be_visible()
    expect(tara.get_by_text("An agent relabelled it as complaint/billing.")).to_be_visible()


def test_times_show_in_the_agents_own_time_zone(browser: Browser, live: tuple[str, Service]) -> None:
    base, _ = live
    complaint = _customer_says(
        base, user="hana", display_name="Hana", text="my order never arrived and nobody answers"
    )
    assert complaint["handoff_id"]

    # India is UTC+05:30: no local clock reading there can pass for a UTC one.
    ana = browser.new_context(timezone_id="Asia/Kolkata", locale="en-GB").new_page()
    _sign_in(ana, base, "ana")
    ana.goto(f"{base}/console/handoffs/{complaint['handoff_id']}")
    times = ana.locator("#timeline time")

    def shown_locally(index: int) -> None:
        element = times.nth(index)
        at = datetime.fromisoformat(str(element.get_attribute("datetime")))
        local = at.astimezone(ZoneInfo("Asia/Kolkata"))
        expect(element).to_contain_text(local.strftime("%H:%M:%S"))
        expect(element).to_contain_text(f"{local.day} {local:%b} {local.year}")
        expect(element).not_to_contain_text("UTC")
        expect(element).to_have_attribute("title", re.compile(local.strftime("%A")))

    expect(times).to_have_count(2)  # the complaint and the bot's acknowledgement
    shown_locally(0)
    # A message that arrives with the live update is shown in local time too.
    _customer_says(base, user="hana", display_name="Hana", text="order 5512093, still nothing")
    expect(times).to_have_count(3)
    shown_locally(2)
    ana.locator(".case-side").get_by_text("handed off by the bot").scroll_into_view_if_needed()
    expect(ana.locator("ol.events time").first).not_to_contain_text("UTC")


def test_an_agent_cancels_a_follow_up_and_reads_the_metrics(
    browser: Browser, live: tuple[str, Service]
) -> None:
    base, service = live
    complaint = _customer_says(base, user="erin", display_name="Erin", text=COMPLAINT, public=True)
    assert complaint["handoff_id"]

    ana = browser.new_context().new_page()
    _sign_in(ana, base, "ana")
    ana.goto(f"{base}/console/handoffs/{complaint['handoff_id']}")
    # The service's own scheduler plans the public follow-up within a few seconds (it is due
    # hours later); the panel shows it with the case's live updates, without a reload.
    panel = ana.locator("#followups")
    expect(panel.locator("li.followup-scheduled")).to_have_count(1, timeout=20_000)
    expect(panel).to_contain_text("still here to help")
    [followup] = service.followups.store.for_case(complaint["case_id"])

    panel.get_by_role("button", name=f"Cancel follow-up {followup.id}").click()
    expect(ana.locator(".flash")).to_have_text("Follow-up cancelled: it will not be sent.")
    expect(panel.locator("li.followup-cancelled")).to_contain_text("cancelled by ana")
    expect(panel.get_by_role("button", name=f"Cancel follow-up {followup.id}")).to_have_count(0)
    assert service.followups.store.get(followup.id).status == "cancelled"

    ana.get_by_role("link", name="Metrics").click()
    expect(ana).to_have_url(f"{base}/console/metrics")
    expect(
        ana.get_by_role("img", name="Time to first acknowledgement per platform, seconds (p50, p90)")
    ).to_be_visible()
    expect(ana.get_by_role("img", name="Customer messages by intent")).to_be_visible()
    expect(ana.locator("table.plain")).to_contain_text("web")
    ana.get_by_label("Window", exact=True).select_option("168")
    ana.get_by_label("per", exact=True).select_option("day")
    ana.get_by_role("button", name="Show").click()
    expect(ana).to_have_url(f"{base}/console/metrics?hours=168&bucket=day")
    expect(ana.locator("section.chart svg").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    ana.screenshot(path=str(ARTIFACTS / "metrics.png"), full_page=True)


def test_an_agent_finds_a_misread_post_among_the_chatter(browser: Browser, live: tuple[str, Service]) -> None:
    base, service = live
    # Straight into the store as the model would have read it: the page is under test, not the model.
    joke = "lol the <i>courier</i> left my parcel in the bin again 🙃"
    store_understood(service.repository, "chatter-1", joke, who="ivo", confidence=0.64)
    store_understood(service.repository, "chatter-2", "haha love it", platform="telegram", who="lu")

    ana = browser.new_context().new_page()
    _sign_in(ana, base, "ana")
    ana.get_by_role("link", name="Chatter").click()
    expect(ana).to_have_url(f"{base}/console/chatter")
    row = ana.locator("table.chatter tr", has_text="courier")
    expect(row).to_contain_text(joke)  # as text: the markup the customer typed is not markup here
    expect(row).to_contain_text("@ivo")
    expect(row).to_contain_text("64%")
    expect(row.locator(".where-public")).to_be_visible()

    ana.get_by_label("Platform").select_option("x")
    ana.get_by_role("button", name="Show").click()
    expect(ana).to_have_url(f"{base}/console/chatter?hours=&platform=x")
    expect(ana.locator("table.chatter")).not_to_contain_text("haha love it")
    row.get_by_text("Wrong label?").click()
    row.get_by_label("The customer meant").fill("complaint/delivery")
    row.get_by_role("button", name="Send to trainers").click()
    expect(ana).to_have_url(f"{base}/console/chatter?platform=x")
    expect(ana.locator(".flash")).to_contain_text("in the trainers' review inbox")
    expect(row).to_contain_text("Sent to the trainers as complaint/delivery.")
    ARTIFACTS.mkdir(exist_ok=True)
    ana.screenshot(path=str(ARTIFACTS / "chatter.png"), full_page=True)
