"""The `firstline` command: run the service, train, talk to the bot, list handoffs.

JSON goes to standard output and progress to standard error, so `firstline say ... | jq` works.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

from bot import log_format, model_store
from bot.progress import progress
from bot.settings import Settings

__all__ = ["main"]

logger = logging.getLogger("firstline")


# Packages whose deprecation notices are addressed to their own maintainers or to Rasa's: someone
# starting Firstline can do nothing about them. Firstline's own warnings still show.
_DEPENDENCIES_WARNING_ABOUT_THEMSELVES = (
    "tensorflow",
    "keras",
    "jax",
    "matplotlib",
    "pyparsing",
    "pkg_resources",
    "google",
    "rasa",
    "sqlalchemy",
    "apscheduler",
    "sanic",
    "ruamel",
    # twitter-text-parser reads its emoji table through pkg_resources, which says it is deprecated.
    "twitter_text",
)


def _quiet_dependency_warnings() -> None:
    # Importing sanic.app turns every DeprecationWarning in the process "once" (a filter at the
    # front of the list), so it is imported first and the filters below go in front of its own.
    import sanic.app  # noqa: F401

    for category in (DeprecationWarning, PendingDeprecationWarning):
        for package in _DEPENDENCIES_WARNING_ABOUT_THEMSELVES:
            warnings.filterwarnings("ignore", category=category, module=rf"{package}(\.|$)")
    # Rasa 3.x says this whenever a domain has slots, mappings or not; it asks nothing of us.
    warnings.filterwarnings("ignore", message="Slot auto-fill has been removed", category=UserWarning)
    # Said by the import system about some dependency's legacy importer, named nowhere.
    warnings.filterwarnings("ignore", message=r"the load_module\(\) method is deprecated")


def _setup_logging(settings: Settings) -> None:
    log_format.configure(settings.log_format, getattr(logging, settings.log_level.upper(), logging.INFO))
    # Rasa and TensorFlow log a great deal at INFO; Firstline's own lines are what matter here.
    for noisy in ("rasa", "rasa_sdk", "tensorflow", "absl", "apscheduler", "sanic", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bot import log_redaction

    # Before anything logs a request: the Telegram token is part of every Bot API URL.
    log_redaction.install(settings.secret_values())
    log_format.quiet_rasa_logging()


def _build_service(settings: Settings) -> Any:
    from bot.service import Service

    model = model_store.ensure(settings.project_dir, settings.model_dir)
    progress("loading the model and opening the store")
    return Service.build(settings, model)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import create_app

    service = _build_service(settings)
    host, port = args.host or settings.host, args.port or settings.port
    progress(f"Firstline is up: open http://{host}:{port}/ to play customer and agent (Ctrl-C stops)")
    # ws="none": the service has no websocket routes, and uvicorn's websocket support does not
    # import against the websockets release Rasa pins.
    # log_config=None: uvicorn's own lines go through Firstline's handler, in its format.
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning", log_config=None, ws="none")
    progress("stopped")
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    model_store.ensure(settings.project_dir, settings.model_dir, force=args.force)
    return 0


async def _say_once(service: Any, message: Any) -> Any:
    outcome = await service.gateway.receive(message)
    await service.rasa.flush()  # Rasa's tracker is written after the reply; wait for it here
    return outcome


def cmd_say(settings: Settings, args: argparse.Namespace) -> int:
    from bot.errors import InvalidMessage
    from bot.messages import Customer, InboundMessage

    service = _build_service(settings)
    adapter = service.adapters.get(args.platform)
    if adapter is None:
        progress(f"the {args.platform} adapter is not configured")
        return 2
    key = f"{'public' if args.public else 'private'}:{args.user}"
    message = InboundMessage(
        platform=args.platform,
        platform_message_id=args.message_id or f"cli-{time.time_ns()}",
        conversation_key=key,
        public=args.public,
        customer=Customer(args.user, handle=args.user, display_name=args.name, audience=args.audience),
        text=args.text,
    )
    try:
        outcome = asyncio.run(_say_once(service, message))
    except InvalidMessage as exc:
        progress(f"refused: {exc}")
        return 2
    result = outcome.to_dict()
    result["handoff"] = service.casework.packet(outcome.handoff_id) if outcome.handoff_id else None
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _handoff_store(settings: Settings) -> Any:
    """The handoff store for the operator's commands, which run beside the service, not in it."""
    from bot.store.stores import Stores

    return Stores.open(settings).casework


def cmd_handoffs(settings: Settings, args: argparse.Namespace) -> int:
    casework = _handoff_store(settings)
    status = None if args.status == "all" else args.status
    packets = [casework.packet(h.id) for h in casework.handoffs(status)]
    print(json.dumps(packets, indent=2, ensure_ascii=False))
    return 0


def cmd_close(settings: Settings, args: argparse.Namespace) -> int:
    from bot.errors import NotFound
    from bot.store.casework import Conflict

    casework = _handoff_store(settings)
    try:
        # The operator has no account: no actor, and ownership is overridden as an admin would.
        casework.close(args.id, args.status, None, args.outcome, override=True)
    except NotFound as exc:
        progress(f"not found: {exc}")
        return 1
    except Conflict as exc:
        progress(f"refused: {exc}")
        return 1
    print(json.dumps(casework.packet(args.id), indent=2, ensure_ascii=False))
    return 0


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    _handoff_store(settings)  # opening the store migrates it
    progress(f"the store at {settings.store_url} is at the newest schema")
    return 0


def cmd_privacy(settings: Settings, args: argparse.Namespace) -> int:
    """A customer's data: everything held, as one JSON document (export), or erased everywhere
    Firstline can, with a report of what was done and what a person must still do (erase)."""
    from bot.store.data_subjects import SubjectNotFound, erase, records_of
    from bot.store.stores import Stores

    engine = Stores.open(settings).engine
    try:
        if args.privacy_command == "export":
            document = {
                "platform": args.platform,
                "user": args.user,
                **records_of(engine, args.platform, args.user),
            }
            text = json.dumps(document, indent=2, ensure_ascii=False)
            if args.out:
                with open(args.out, "w", encoding="utf-8") as out:
                    out.write(text + "\n")
                progress(f"wrote everything held about {args.platform} user {args.user} to {args.out}")
            else:
                print(text)
            return 0
        report = erase(
            engine,
            args.platform,
            args.user,
            tracker_url=settings.rasa_tracker_url,
            nlu_dir=settings.project_dir / "data" / "nlu",
        )
    except SubjectNotFound as exc:
        progress(str(exc))
        return 1
    # The log records that an erasure happened and what it touched, never what was erased.
    logger.warning("erased %s customer data: %s", args.platform, json.dumps(report.to_dict()))
    print(json.dumps(report.to_dict(), indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firstline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train if needed, then start the service")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.set_defaults(handler=cmd_run)

    train = commands.add_parser("train", help="train the model if the data changed")
    train.add_argument("--force", action="store_true", help="train even if a matching model exists")
    train.set_defaults(handler=cmd_train)

    say = commands.add_parser("say", help="send one message as a customer and print what happened")
    say.add_argument("text")
    say.add_argument("--platform", default="web")
    say.add_argument("--public", action="store_true", help="a public post rather than a private chat")
    say.add_argument("--user", default="demo-customer")
    say.add_argument("--name", help="the customer's display name")
    say.add_argument("--audience", type=int, help="the customer's followers")
    say.add_argument("--message-id", help="the platform's message id (repeat it to test duplicates)")
    say.set_defaults(handler=cmd_say)

    handoffs = commands.add_parser("handoffs", help="list handoffs as JSON")
    handoffs.add_argument("--status", default="open", choices=["open", "resolved", "handed_back", "all"])
    handoffs.set_defaults(handler=cmd_handoffs)

    for name, status, text in (
        ("resolve", "resolved", "close a handoff as resolved"),
        ("hand-back", "handed_back", "give a case back to the bot"),
    ):
        close = commands.add_parser(name, help=text)
        close.add_argument("id", type=int)
        close.add_argument("--outcome")
        close.set_defaults(handler=cmd_close, status=status)

    db = commands.add_parser("db", help="store maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="migrate the store to the newest schema").set_defaults(
        handler=cmd_db_upgrade
    )

    privacy = commands.add_parser("privacy", help="a customer's data: export it, or erase it")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    for name, text in (
        ("export", "everything held about a customer, as one JSON document"),
        ("erase", "anonymise or delete everything held about a customer, and report what was done"),
    ):
        command = privacy_commands.add_parser(name, help=text)
        command.add_argument("--platform", required=True, help="telegram, x or web")
        command.add_argument("--user", required=True, help="the customer's user id on that platform")
        if name == "export":
            command.add_argument("--out", help="write to this file instead of standard output")
        command.set_defaults(handler=cmd_privacy)

    from bot.console.commands import add_user_commands

    add_user_commands(commands)

    from bot.trainer.commands import add_nlu_commands

    add_nlu_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_dependency_warnings()
    args = _parser().parse_args(argv)
    settings = Settings()
    _setup_logging(settings)
    return int(args.handler(settings, args))


if __name__ == "__main__":
    sys.exit(main())
