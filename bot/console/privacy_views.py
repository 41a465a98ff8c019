"""A customer's data for admins: look a customer up, download everything held about them, or
erase it, after typing their user id again (`bot.store.data_subjects` does the work, as for
`firstline privacy`). Every export and erasure is logged with the admin who did it, never with
the customer's words."""

from __future__ import annotations

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.adapters import ADAPTERS
from bot.console.api import read_fields
from bot.console.auth import ADMIN
from bot.console.context import SECURITY_HEADERS, Console, admin_answer
from bot.store.accounts import Account
from bot.store.data_subjects import SubjectNotFound, erase, records_of

__all__ = ["PRIVACY_PAGE", "privacy_routes"]

logger = logging.getLogger(__name__)

PRIVACY_PAGE = "/console/admin/privacy"


def privacy_routes(console: Console) -> list[BaseRoute]:
    service = console.service
    engine = service.repository.engine
    platforms = sorted(ADAPTERS)

    def _subject(values: dict[str, str]) -> tuple[str, str] | None:
        platform, user = values.get("platform", ""), values.get("user", "").strip()
        return (platform, user) if platform in platforms and 0 < len(user) <= 128 else None

    @console.guard(ADMIN)
    async def privacy_page(request: Request) -> Response:
        subject = _subject(dict(request.query_params))
        summary = None
        if subject is not None:
            try:
                records = await run_in_threadpool(records_of, engine, *subject)
            except SubjectNotFound:
                summary = {}
            else:
                summary = {key: len(value) for key, value in records.items()}
        context = {"platforms": platforms, "subject": subject, "summary": summary}
        return console.render(request, "privacy.html", context)

    @console.guard(ADMIN)
    async def export(request: Request) -> Response:
        subject = _subject(dict(request.query_params))
        if subject is None:
            return admin_answer(request, PRIVACY_PAGE, "choose a platform and a user id", 422)
        try:
            records = await run_in_threadpool(records_of, engine, *subject)
        except SubjectNotFound as exc:
            return admin_answer(request, PRIVACY_PAGE, str(exc), 404)
        admin: Account = request.state.user
        logger.warning("privacy: %s exported the data of a %s customer", admin.username, subject[0])
        body = json.dumps(
            {"platform": subject[0], "user": subject[1], **records}, indent=2, ensure_ascii=False
        )
        return Response(
            body,
            media_type="application/json",
            headers={
                **SECURITY_HEADERS,
                "cache-control": "no-store",
                "content-disposition": f'attachment; filename="{subject[0]}-customer-data.json"',
            },
        )

    @console.guard(ADMIN)
    async def erase_customer(request: Request) -> Response:
        fields = await read_fields(request)
        subject = _subject(fields)
        if subject is None:
            return admin_answer(request, PRIVACY_PAGE, "choose a platform and a user id", 422)
        if fields.get("confirm", "").strip() != subject[1]:
            return admin_answer(request, PRIVACY_PAGE, "type the user id again to confirm the erasure", 422)
        try:
            report = await run_in_threadpool(
                lambda: erase(
                    engine,
                    *subject,
                    tracker_url=service.settings.rasa_tracker_url,
                    nlu_dir=service.settings.project_dir / "data" / "nlu",
                )
            )
        except SubjectNotFound as exc:
            return admin_answer(request, PRIVACY_PAGE, str(exc), 404)
        admin: Account = request.state.user
        logger.warning(
            "privacy: %s erased a %s customer: %s", admin.username, subject[0], json.dumps(report.to_dict())
        )
        left = report.training_data
        message = (
            f"Erased: {report.messages} messages and {report.handoffs} handoffs anonymised; "
            f"Rasa's tracker: {report.tracker}."
            + (f" Remove from the training data: {', '.join(left)}." if left else "")
        )
        return admin_answer(request, PRIVACY_PAGE, message)

    return [
        Route(PRIVACY_PAGE, privacy_page),
        Route(f"{PRIVACY_PAGE}/export", export),
        Route(f"{PRIVACY_PAGE}/erase", erase_customer, methods=["POST"]),
    ]
