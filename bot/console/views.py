"""The console's pages: sign-in, the queue, the case view, and the admin pages.

Pages are rendered on the server; `static/console.js` only polls the two live fragments (queue
rows, case timeline), counts characters and fills in canned replies.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.console.api import canned_values, char_limit, read_fields
from bot.console.auth import (
    ADMIN,
    READ,
    WORK,
    csrf_token,
    hash_password_off_loop,
    login_csrf_ok,
    needs_rehash,
    rehash_password_off_loop,
    sign_in,
    sign_out,
    signed_in,
    verify_password_off_loop,
)
from bot.console.context import Console, admin_answer
from bot.errors import NotFound
from bot.handoff import REASONS
from bot.store.accounts import ROLES, Account, AccountRepository, InvalidAccount
from bot.store.casework import InvalidInput
from bot.wording import fill

__all__ = ["page_routes"]

logger = logging.getLogger(__name__)

QUEUE_VIEWS = ("open", "mine", "unassigned", "closed")


def _safe_next(target: str | None) -> str:
    """Only local console paths: a crafted `next` must not send a signed-in agent elsewhere."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def page_routes(console: Console) -> list[BaseRoute]:
    casework, guard, accounts = console.casework, console.guard, console.accounts

    async def login_page(request: Request) -> Response:
        if guard.current_user(request) is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        return console.render(
            request, "login.html", {"next": _safe_next(request.query_params.get("next")), "error": None}
        )

    async def login(request: Request) -> Response:
        if (refused := await console.service.limits.login(request)) is not None:
            return refused  # per client address, before any password is hashed
        form = await request.form()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "")))
        if not login_csrf_ok(request, form.get("csrf_token")):
            return console.render(
                request, "login.html", {"next": target, "error": "The form expired; try again."}, 403
            )
        wait = console.throttle.wait(username)
        if wait > 0:
            error = f"Too many failed attempts; try again in {int(wait) + 1} seconds."
            return console.render(request, "login.html", {"next": target, "error": error}, 429)
        found = accounts.credentials(username)
        # An unknown name is checked against a dummy hash: as slow as a wrong password.
        verified = await verify_password_off_loop(found[1] if found else None, password)
        if found is None or not verified or not found[0].active:
            # One message for every failure: the page does not tell which usernames exist.
            console.throttle.failed(username)
            logger.info("failed sign-in for %r", username[:64])
            error = "Wrong username or password."
            return console.render(request, "login.html", {"next": target, "error": error}, 401)
        console.throttle.succeeded(username)
        if needs_rehash(found[1]):
            await _rehash(accounts, found[0], password)
        sign_in(request, console.sessions, found[0])
        accounts.record_login(found[0].id)
        logger.info("%s signed in", found[0].username)
        return RedirectResponse(target, status_code=303)

    @guard(READ)
    async def logout(request: Request) -> Response:
        sign_out(request, console.sessions)
        return RedirectResponse("/console/login", status_code=303)

    def queue_context(request: Request) -> dict[str, Any]:
        view = request.query_params.get("view", "open")
        if view not in QUEUE_VIEWS:
            view = "open"
        user: Account = request.state.user
        if view == "closed":
            items = casework.queue("resolved") + casework.queue("handed_back")
            items.sort(key=lambda i: i.closed_at or i.received_at, reverse=True)
            items = items[:100]
        else:
            items = casework.queue("open", assignee_id=user.id if view == "mine" else None)
            if view == "unassigned":
                items = [i for i in items if i.assignee_id is None]
        rows = [(item, console.clock(item.received_at, item.claimed_at)) for item in items]
        return {"view": view, "rows": rows, "views": QUEUE_VIEWS, "sla_minutes": console.sla_minutes}

    @guard(READ)
    async def queue_page(request: Request) -> Response:
        return console.render(request, "queue.html", queue_context(request))

    @guard(READ)
    async def queue_rows(request: Request) -> Response:
        return console.render(request, "_queue_rows.html", queue_context(request))

    def case_context(request: Request, handoff_id: int) -> dict[str, Any]:
        view = casework.case_view(handoff_id)
        user: Account = request.state.user
        values = canned_values(console, view.customer, user)
        places = {c.id: ("public" if c.public else "private") for c in view.conversations}
        for chat in view.unverified:
            places.update({c.id: "unverified" for c in chat.conversations})
        understood = {m.id: (m.understanding or {}) for m in view.messages}
        return {
            "case": view,
            "handoff": view.handoff,
            "reason_text": REASONS.get(view.handoff.reason, view.handoff.reason),
            "places": places,
            "understood": understood,
            "clock": console.clock(view.handoff.received_at, view.handoff.claimed_at),
            "colleagues": [a for a in accounts.all() if a.active and a.role in WORK],
            "canned": [(r.title, fill(r.text, values, keep_unknown=True)) for r in casework.canned_replies()],
            "limits": {
                c.id: char_limit(console, c.platform)
                for c in [*view.conversations, *(c for chat in view.unverified for c in chat.conversations)]
            },
            "may_work": user.role in WORK,
            "owner_is_me": view.handoff.assignee_id == user.id,
            "followups": console.service.followups.store.for_case(view.handoff.case_id),
        }

    @guard(READ)
    async def case_page(request: Request) -> Response:
        try:
            context = case_context(request, int(request.path_params["handoff_id"]))
        except NotFound:
            return console.render(request, "not_found.html", {}, 404)
        return console.render(request, "case.html", context)

    @guard(READ)
    async def case_live(request: Request) -> Response:
        """The parts of the case that change while an agent looks at it, as HTML fragments."""
        try:
            context = case_context(request, int(request.path_params["handoff_id"]))
        except NotFound:
            return JSONResponse({"error": "not found"}, status_code=404)
        context.update(user=request.state.user, csrf=csrf_token(request), request=request)
        env = console.templates.env
        parts = {
            "timeline": env.get_template("_timeline.html").render(context),
            "state": env.get_template("_case_state.html").render(context),
            "followups": env.get_template("_followups.html").render(context),
        }
        return JSONResponse(parts, headers={"cache-control": "no-store"})

    # --- admin ---------------------------------------------------------------------------------

    @guard(ADMIN)
    async def users_page(request: Request) -> Response:
        return console.render(request, "users.html", {"accounts": accounts.all(), "roles": ROLES})

    @guard(ADMIN)
    async def create_user(request: Request) -> Response:
        fields = await read_fields(request)
        username, display_name = fields.get("username", ""), fields.get("display_name") or None
        try:
            password_hash = await hash_password_off_loop(
                fields.get("password", ""), [username, display_name or ""]
            )
            account = accounts.create(username, password_hash, fields.get("role", "agent"), display_name)
        except (InvalidAccount, ValueError) as exc:
            return admin_answer(request, "/console/admin/users", str(exc), 422)
        return admin_answer(request, "/console/admin/users", f"Created {account.username} ({account.role}).")

    @guard(ADMIN)
    async def update_user(request: Request) -> Response:
        fields = await read_fields(request)
        user_id = int(request.path_params["user_id"])
        me: Account = request.state.user
        try:
            if user_id == me.id and (
                fields.get("active") == "false" or fields.get("role", "admin") != "admin"
            ):
                raise InvalidAccount("you cannot disable your own account or drop your own admin role")
            password = fields.get("password") or None
            password_hash = None
            if password:
                target = accounts.get(user_id)
                if target is None:
                    raise NotFound(f"user {user_id}")
                known = [target.username, target.display_name, fields.get("display_name", "")]
                password_hash = await hash_password_off_loop(password, known)
            session = signed_in(request)
            account = accounts.update(
                user_id,
                role=fields.get("role") or None,
                display_name=fields.get("display_name") or None,
                active={"true": True, "false": False}.get(fields.get("active", "")),
                password_hash=password_hash,
                # Changing one's own password keeps this session and ends the others.
                keep_session=session.key if session is not None else None,
            )
        except NotFound as exc:
            return admin_answer(request, "/console/admin/users", f"not found: {exc}", 404)
        except (InvalidAccount, ValueError) as exc:
            return admin_answer(request, "/console/admin/users", str(exc), 422)
        return admin_answer(request, "/console/admin/users", f"Saved {account.username}.")

    @guard(ADMIN)
    async def canned_page(request: Request) -> Response:
        return console.render(request, "canned.html", {"replies": casework.canned_replies()})

    @guard(ADMIN)
    async def save_canned(request: Request) -> Response:
        fields = await read_fields(request)
        reply_id = request.path_params.get("reply_id")
        try:
            if reply_id is not None and fields.get("delete"):
                casework.delete_canned_reply(int(reply_id))
                return admin_answer(request, "/console/admin/canned", "Deleted.")
            saved = casework.save_canned_reply(
                fields.get("title", ""),
                fields.get("text", ""),
                int(reply_id) if reply_id is not None else None,
            )
        except NotFound as exc:
            return admin_answer(request, "/console/admin/canned", f"not found: {exc}", 404)
        except InvalidInput as exc:
            return admin_answer(request, "/console/admin/canned", str(exc), 422)
        return admin_answer(request, "/console/admin/canned", f"Saved “{saved.title}”.")

    async def console_root(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=307)

    return [
        Route("/console", console_root),
        Route("/console/login", login_page),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
        Route("/console/", queue_page),
        Route("/console/queue/rows", queue_rows),
        Route("/console/handoffs/{handoff_id:id}", case_page),
        Route("/console/handoffs/{handoff_id:id}/live", case_live),
        Route("/console/admin/users", users_page),
        Route("/console/admin/users", create_user, methods=["POST"]),
        Route("/console/admin/users/{user_id:id}", update_user, methods=["POST"]),
        Route("/console/admin/canned", canned_page),
        Route("/console/admin/canned", save_canned, methods=["POST"]),
        Route("/console/admin/canned/{reply_id:id}", save_canned, methods=["POST"]),
    ]


async def _rehash(accounts: AccountRepository, account: Account, password: str) -> None:
    """Stores the password again with today's hash parameters (no policy: it is the account's
    password already); a failure only costs the upgrade."""
    try:
        accounts.rehash(account.id, await rehash_password_off_loop(password))
    except (ValueError, OSError) as exc:
        logger.warning("kept the old password hash of %s: %s", account.username, exc)
    else:
        logger.info("password hash of %s upgraded to the current parameters", account.username)
