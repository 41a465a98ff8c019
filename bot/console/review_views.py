"""The trainers' review inbox in the console, and the agents' "relabel" control on a message.

Trainers (and admins) work the inbox oldest first: the message, the model's guess, the
conversation around it; they confirm, correct (intent and entities) or discard. Agents cannot
open these pages; they feed the inbox by relabelling a customer message in the case view.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.console.api import read_fields
from bot.console.auth import WORK
from bot.console.context import Console, flash
from bot.errors import NotFound
from bot.input_limits import InputError, parse_json
from bot.store.accounts import Account
from bot.store.review import DECISIONS, ReviewError

__all__ = ["TRAIN", "review_routes"]

logger = logging.getLogger(__name__)

TRAIN = ("trainer", "admin")
"""Who may review what the model was unsure about."""


def _known_intents(console: Console) -> list[str]:
    """The intents of the training data, for the correction form's suggestions."""
    from bot.trainer.training_data import DataFileError, nlu_files, read_examples

    data = console.service.settings.project_dir / "data"
    try:
        return sorted({example.intent for example in read_examples(nlu_files(data))}) if data.is_dir() else []
    except DataFileError as exc:
        logger.warning("cannot list intents for the review form: %s", exc)
        return []


def _safe_case_page(target: str) -> str:
    """Where a relabel returns to: the case view or the chatter list the agent came from; a
    crafted `next` (another site, another path) goes to the queue instead."""
    if "//" in target or "\\" in target:
        return "/console/"
    if target.startswith("/console/handoffs/") or target.split("?", 1)[0] == "/console/chatter":
        return target
    return "/console/"


def review_routes(console: Console) -> list[BaseRoute]:
    inbox = console.service.review_inbox
    guard = console.guard

    @guard(TRAIN)
    async def inbox_page(request: Request) -> Response:
        status = request.query_params.get("status", "open")
        items = inbox.items(None if status == "all" else status, limit=100)
        return console.render(
            request, "review.html", {"items": items, "status": status, "counts": inbox.counts()}
        )

    def item_context(item_id: int, error: str | None = None) -> dict[str, Any]:
        item = inbox.item(item_id)
        entities = item.corrected_entities if item.status in ("confirmed", "corrected") else item.entities
        return {
            "item": item,
            "around": inbox.context(item_id),
            "intents": _known_intents(console),
            "entities_json": json.dumps(list(entities), ensure_ascii=False),
            "decisions": DECISIONS,
            "error": error,
        }

    @guard(TRAIN)
    async def item_page(request: Request) -> Response:
        try:
            context = item_context(int(request.path_params["item_id"]))
        except NotFound:
            return console.render(request, "not_found.html", {}, 404)
        return console.render(request, "review_item.html", context)

    @guard(TRAIN)
    async def review(request: Request) -> Response:
        item_id = int(request.path_params["item_id"])
        fields = await read_fields(request)
        user: Account = request.state.user
        try:
            inbox.item(item_id)  # an unknown item is a 404 whatever the form says
        except NotFound:
            return console.render(request, "not_found.html", {}, 404)
        try:
            entities = parse_json(fields["entities"].encode()) if fields.get("entities", "").strip() else None
            if entities is not None and not isinstance(entities, list):
                raise ReviewError("entities must be a JSON list")
            done = inbox.review(
                item_id,
                fields.get("decision", ""),
                user.id,
                intent=fields.get("intent", "").strip() or None,
                entities=entities,
            )
        except NotFound:
            return console.render(request, "not_found.html", {}, 404)
        except (ReviewError, InputError, ValueError) as exc:
            return console.render(request, "review_item.html", item_context(item_id, str(exc)), 422)
        flash(
            request,
            f"Item {done.id}: {done.status}"
            + (f" as {done.corrected_intent}." if done.corrected_intent else "."),
        )
        following = inbox.items("open", limit=1)
        return RedirectResponse(f"/console/review/{following[0].id}" if following else "/console/review", 303)

    @guard(WORK)
    async def relabel(request: Request) -> Response:
        fields = await read_fields(request)
        user: Account = request.state.user
        back = _safe_case_page(fields.get("next", ""))
        try:
            inbox.relabel(int(request.path_params["message_id"]), fields.get("intent", "").strip(), user.id)
        except NotFound:
            flash(request, "That message does not exist.", "error")
        except ReviewError as exc:
            flash(request, str(exc), "error")
        else:
            flash(request, "Thanks: the message is in the trainers' review inbox with your label.")
        return RedirectResponse(back, status_code=303)

    return [
        Route("/console/review", inbox_page),
        Route("/console/review/{item_id:id}", item_page),
        Route("/console/review/{item_id:id}", review, methods=["POST"]),
        Route("/console/messages/{message_id:id}/relabel", relabel, methods=["POST"]),
    ]
