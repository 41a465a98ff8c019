"""The console's JSON reads and every action on a handoff.

An action answers the way it was asked: a JSON request (`Content-Type: application/json`, CSRF
token in `X-CSRF-Token`) gets JSON and a status code that says what went wrong; a plain HTML form
(token in the `csrf_token` field) gets a redirect back to the case with a one-line message, so
the console works without JavaScript.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.console.auth import ADMIN, READ, WORK
from bot.console.context import Console, flash
from bot.errors import BotError, NotFound, Refused
from bot.input_limits import InputError, ascii_int, read_json
from bot.messages import OutboundMessage
from bot.store.accounts import Account
from bot.store.casework import CaseworkRepository, Conflict, InvalidInput, QueueItem
from bot.store.models import Handoff
from bot.text_limits import LIMITS, measure
from bot.wording import fill

__all__ = ["CLOSE_ACTIONS", "api_routes", "canned_values", "char_limit", "close_handoff", "queue_item_dict"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_OUTCOME_CHARS = 2000
CLOSE_ACTIONS = {"resolve": "resolved", "hand-back": "handed_back"}
"""The last part of a close's path, and the status it gives the handoff."""
Action = Callable[[Request, Handoff, dict[str, str]], Awaitable[str]]


async def read_fields(request: Request) -> dict[str, str]:
    """The request's fields from a JSON object or a form, as strings.

    Raises:
        InputError: the JSON body is too large or not a JSON object (the app answers it as is).
    """
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await read_json(request, MAX_BODY_BYTES)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError(400, "the body must be a JSON object")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items() if v is not None}
    form: FormData = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def char_limit(console: Console, platform: str) -> int:
    adapter = console.service.adapters.get(platform)
    return adapter.char_limit if adapter is not None else LIMITS.get(platform, 2000)


def canned_values(console: Console, customer: Any, agent: Account) -> dict[str, str]:
    return {
        "name": customer.display_name or customer.handle or "there",
        "handle": f"@{customer.handle}" if customer.handle else (customer.display_name or ""),
        "brand": console.service.settings.brand_name,
        "agent": agent.display_name,
    }


def queue_item_dict(console: Console, item: QueueItem) -> dict[str, Any]:
    clock = console.clock(item.received_at, item.claimed_at)
    return {
        "id": item.handoff_id,
        "case_id": item.case_id,
        "status": item.status,
        "reason": item.reason,
        "intent": item.intent,
        "topic": item.topic,
        "priority": item.priority,
        "summary": item.summary,
        "flags": list(item.flags),
        "platform": item.platform,
        "public": item.public,
        "places": list(item.places),
        "customer": {"name": item.customer_name, "handle": item.customer_handle, "audience": item.audience},
        "assignee": {"id": item.assignee_id, "name": item.assignee_name} if item.assignee_id else None,
        "received_at": item.received_at.isoformat(),
        "claimed_at": item.claimed_at.isoformat() if item.claimed_at else None,
        "last_customer_at": item.last_customer_at.isoformat(),
        "customer_messages": item.customer_messages,
        "waited_seconds": round(clock.waited_seconds, 1),
        "sla": clock.to_dict(),
    }


def close_handoff(
    casework: CaseworkRepository, handoff_id: int, status: str, user: Account, outcome: object = None
) -> None:
    """Resolves or hands back a handoff for a signed-in account: the console's buttons and the
    JSON API (`POST /api/handoffs/{id}/resolve`) both come here, so both refuse a case someone
    else owns (409; an admin may) and both leave an event in the case."""
    if outcome is not None and not isinstance(outcome, str):
        raise InvalidInput("'outcome' must be a string")
    text = (outcome or "").strip() or None
    if text is not None and len(text) > MAX_OUTCOME_CHARS:
        raise InvalidInput(f"an outcome is at most {MAX_OUTCOME_CHARS} characters")
    casework.close(handoff_id, status, user.id, text, override=user.role == "admin")


def _may_work_on(handoff: Handoff, user: Account) -> None:
    """Only the owner (or an admin) changes an owned handoff; an unowned one is anybody's."""
    if handoff.assignee_id not in (None, user.id) and user.role != "admin":
        raise Conflict(f"handoff {handoff.id} is owned by someone else; ask them or an admin")


def api_routes(console: Console) -> list[BaseRoute]:
    casework, guard = console.casework, console.guard

    def respond(request: Request, handoff_id: int, message: str, status: int = 200) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            if status >= 400:
                return JSONResponse({"error": message}, status_code=status)
            return JSONResponse({"ok": True, "message": message, "handoff": handoff_json(handoff_id)})
        flash(request, message, "error" if status >= 400 else "info")
        return RedirectResponse(f"/console/handoffs/{handoff_id}", status_code=303)

    def handoff_json(handoff_id: int) -> dict[str, Any]:
        packet = console.casework.packet(handoff_id)
        handoff = casework.handoff(handoff_id)
        packet["assignee_id"] = handoff.assignee_id
        packet["claimed_at"] = handoff.claimed_at.isoformat() if handoff.claimed_at else None
        packet["notes"] = [
            {"id": n.id, "author": n.author, "text": n.text, "at": n.created_at.isoformat()}
            for n in casework.notes(handoff.case_id)
        ]
        packet["tags"] = casework.tags(handoff.case_id)
        packet["followups"] = [f.to_dict() for f in console.service.followups.store.for_case(handoff.case_id)]
        packet["sla"] = console.clock(handoff.received_at, handoff.claimed_at).to_dict()
        return packet

    def action(handler: Action) -> Callable[[Request], Awaitable[Response]]:
        """Runs one action on the handoff in the path and answers in the caller's format."""

        async def run(request: Request) -> Response:
            handoff_id = int(request.path_params["handoff_id"])
            try:
                fields = await read_fields(request)
                handoff = casework.handoff(handoff_id)
                message = await handler(request, handoff, fields)
            except BotError as exc:
                if exc.status is None:
                    raise
                return respond(request, handoff_id, exc.public_message(), exc.status)
            except ValueError as exc:
                return respond(request, handoff_id, str(exc), 422)
            return respond(request, handoff_id, message)

        run.__name__ = handler.__name__
        return guard(WORK)(run)

    async def claim(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        casework.claim(handoff.id, request.state.user.id)
        return "You own this handoff now."

    async def assign(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        try:
            assignee_id = ascii_int(fields.get("user_id"))
        except ValueError as exc:
            raise Refused(422, "choose a colleague to assign the handoff to") from exc
        user: Account = request.state.user
        casework.assign(handoff.id, assignee_id, user.id, override=user.role == "admin")
        assignee = console.accounts.get(assignee_id)
        return f"Assigned to {assignee.display_name if assignee else assignee_id}."

    async def close(request: Request, handoff: Handoff, fields: dict[str, str], status: str) -> str:
        close_handoff(casework, handoff.id, status, request.state.user, fields.get("outcome"))
        return "Resolved." if status == "resolved" else "Handed back to the bot."

    async def resolve(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        return await close(request, handoff, fields, "resolved")

    async def hand_back(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        return await close(request, handoff, fields, "handed_back")

    async def reopen(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        casework.reopen(handoff.id, request.state.user.id)
        return "Reopened; you own it."

    async def add_note(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        casework.add_note(handoff.case_id, request.state.user.id, fields.get("text", ""))
        return "Note added."

    async def add_tag(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        casework.add_tag(handoff.case_id, fields.get("tag", ""))
        return "Tag added."

    async def remove_tag(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        casework.remove_tag(handoff.case_id, fields.get("tag", ""))
        return "Tag removed."

    async def reply(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        user: Account = request.state.user
        if handoff.status != "open":
            raise Conflict("reopen the handoff before replying: the bot answers a closed case")
        _may_work_on(handoff, user)
        text = fields.get("text", "").strip()
        try:
            conversation_id = ascii_int(fields.get("conversation_id"))
        except ValueError as exc:
            raise Refused(422, "choose where to reply: the public thread or the private chat") from exc
        view = casework.case_view(handoff.id)
        recipient = view.customer
        conversation = next((c for c in view.conversations if c.id == conversation_id), None)
        unverified = view.unverified_chat(conversation_id)
        if unverified is not None:
            # Only ever by the agent's explicit choice: the form never pre-selects such a chat.
            recipient = unverified.customer
            conversation = next(c for c in unverified.conversations if c.id == conversation_id)
        if conversation is None:
            raise Refused(422, "that conversation is not part of this case")
        limit = char_limit(console, conversation.platform)
        if not text:
            raise Refused(422, "the reply is empty")
        if measure(text, conversation.platform) > limit:
            raise Refused(422, f"the reply is longer than {conversation.platform}'s {limit} characters")
        if handoff.assignee_id is None:
            casework.claim(handoff.id, user.id)  # answering a customer is picking the case up
        latest = casework.latest_inbound(conversation.id)
        outbound = OutboundMessage(
            platform=conversation.platform,
            conversation_key=conversation.conversation_key,
            public=conversation.public,
            text=text,
            recipient_id=recipient.platform_user_id,
            in_reply_to=latest.external_id if latest is not None and conversation.public else None,
        )
        sent = await console.service.gateway.delivery.send(
            outbound,
            conversation_id=conversation.id,
            author="agent",
            in_reply_to_id=latest.id if latest is not None else None,
        )
        where = "public" if conversation.public else "private"
        if unverified is not None:
            where = "unverified private chat"
        casework.record_event(handoff.id, user.id, "replied", {"message_id": sent.id, "where": where})
        if sent.status == "sent":
            return f"Sent ({where})."
        if sent.status == "pending":
            return f"Not sent yet: {sent.error}. It will be retried automatically."
        # 502: the platform (the gateway upstream of us) refused; the reply stays in the case.
        raise Refused(502, f"The platform refused the reply: {sent.error}. Retry it from the case.")

    async def retry(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        _may_work_on(handoff, request.state.user)
        message_id = int(request.path_params["message_id"])
        message = casework.message(message_id)
        if message.case_id != handoff.case_id or message.direction != "out":
            raise NotFound(f"message {message_id} in this case")
        if message.status == "sent":
            return "Already sent."
        delivery = console.service.gateway.delivery
        result = await delivery.retry(message_id)
        casework.record_event(handoff.id, request.state.user.id, "retried", {"message_id": message_id})
        if result is None:
            return "It is being sent by another instance right now."
        if result.status == "sent":
            return "Sent."
        raise Refused(502, f"Still not sent: {result.error}")

    async def cancel_followup(request: Request, handoff: Handoff, fields: dict[str, str]) -> str:
        _may_work_on(handoff, request.state.user)
        followups = console.service.followups.store
        followup_id = int(request.path_params["followup_id"])
        followup = followups.get(followup_id)
        if followup.case_id != handoff.case_id:
            raise NotFound(f"follow-up {followup_id} in this case")
        user: Account = request.state.user
        if not followups.cancel_followup(followup_id, by=user.username):
            status = followups.get(followup_id).status
            why = {"sent": "has already been sent", "sending": "is being sent right now"}.get(
                status, f"is already {status}"
            )
            raise Conflict(f"This follow-up {why}; it can no longer be cancelled.")
        casework.record_event(
            handoff.id, user.id, "cancelled_followup", {"followup_id": followup_id, "kind": followup.kind}
        )
        return "Follow-up cancelled: it will not be sent."

    @guard(READ)
    async def me(request: Request) -> Response:
        user: Account = request.state.user
        return JSONResponse(
            {"id": user.id, "username": user.username, "role": user.role, "display_name": user.display_name}
        )

    @guard(READ)
    async def queue(request: Request) -> Response:
        status = request.query_params.get("status", "open")
        if status not in ("open", "resolved", "handed_back", "all"):
            return JSONResponse({"error": "status is open, resolved, handed_back or all"}, status_code=400)
        items = casework.queue(None if status == "all" else status)
        return JSONResponse({"handoffs": [queue_item_dict(console, i) for i in items]})

    @guard(READ)
    async def get_handoff(request: Request) -> Response:
        try:
            return JSONResponse(handoff_json(int(request.path_params["handoff_id"])))
        except NotFound as exc:
            return JSONResponse({"error": exc.public_message()}, status_code=404)

    @guard(WORK)
    async def canned(request: Request) -> Response:
        replies = casework.canned_replies()
        handoff = request.query_params.get("handoff")
        values: dict[str, str] = {}
        if handoff:
            try:
                handoff_id = ascii_int(handoff)
            except ValueError:
                return JSONResponse({"error": "'handoff' must be a handoff id"}, status_code=400)
            try:
                view = casework.case_view(handoff_id)
            except NotFound as exc:
                return JSONResponse({"error": exc.public_message()}, status_code=404)
            values = canned_values(console, view.customer, request.state.user)
        return JSONResponse(
            {
                "canned_replies": [
                    {
                        "id": r.id,
                        "title": r.title,
                        "text": r.text,
                        "filled": fill(r.text, values, keep_unknown=True),
                    }
                    for r in replies
                ]
            }
        )

    @guard(ADMIN)
    async def users(request: Request) -> Response:
        return JSONResponse(
            {
                "users": [
                    {
                        "id": a.id,
                        "username": a.username,
                        "role": a.role,
                        "display_name": a.display_name,
                        "active": a.active,
                        "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None,
                    }
                    for a in console.accounts.all()
                ]
            }
        )

    prefix = "/console/api/handoffs/{handoff_id:id}"
    post = ["POST"]
    return [
        Route("/console/api/me", me),
        Route("/console/api/queue", queue),
        Route("/console/api/canned", canned),
        Route("/console/api/users", users),
        Route(prefix, get_handoff),
        Route(f"{prefix}/claim", action(claim), methods=post),
        Route(f"{prefix}/assign", action(assign), methods=post),
        Route(f"{prefix}/reply", action(reply), methods=post),
        Route(f"{prefix}/messages/{{message_id:id}}/retry", action(retry), methods=post),
        Route(f"{prefix}/notes", action(add_note), methods=post),
        Route(f"{prefix}/tags", action(add_tag), methods=post),
        Route(f"{prefix}/tags/remove", action(remove_tag), methods=post),
        Route(f"{prefix}/resolve", action(resolve), methods=post),
        Route(f"{prefix}/hand-back", action(hand_back), methods=post),
        Route(f"{prefix}/reopen", action(reopen), methods=post),
        Route(f"{prefix}/followups/{{followup_id:id}}/cancel", action(cancel_followup), methods=post),
    ]
