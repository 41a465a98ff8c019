"""`firstline users ...`: console accounts from the command line, above all the first admin.

They work on the store directly (no running service needed), so a newcomer can create the first
admin before ever starting Firstline.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from bot.settings import Settings

__all__ = ["add_user_commands"]


def _accounts(settings: Settings) -> Any:
    from bot.store.stores import Stores

    return Stores.open(settings).accounts


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console.auth import hash_password
    from bot.store.accounts import InvalidAccount

    try:
        password_hash = hash_password(_read_password(args), [args.username, args.name or ""])
        account = _accounts(settings).create(args.username, password_hash, args.role, args.name)
    except (InvalidAccount, ValueError) as exc:
        print(f"[firstline] refused: {exc}", file=sys.stderr)
        return 2
    print(
        f"[firstline] created {account.role} {account.username}; sign in at {settings.base_url}/console/",
        file=sys.stderr,
    )
    return 0


def cmd_users_set_password(settings: Settings, args: argparse.Namespace) -> int:
    """The way back in for a locked-out admin: whoever can run commands on the server already
    has the store, so this gives nothing away. Every session of the account is signed out."""
    from bot.console.auth import hash_password
    from bot.store.accounts import InvalidAccount

    accounts = _accounts(settings)
    found = accounts.credentials(args.username)
    if found is None:
        print(f"[firstline] refused: no account {args.username!r}", file=sys.stderr)
        return 2
    try:
        known = [found[0].username, found[0].display_name]
        account = accounts.update(
            found[0].id, password_hash=hash_password(_read_password(args), known), active=True
        )
    except (InvalidAccount, ValueError) as exc:
        print(f"[firstline] refused: {exc}", file=sys.stderr)
        return 2
    print(
        f"[firstline] new password set for {account.username}; its other sessions are signed out",
        file=sys.stderr,
    )
    return 0


def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    rows = [
        {
            "id": a.id,
            "username": a.username,
            "role": a.role,
            "display_name": a.display_name,
            "active": a.active,
            "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None,
        }
        for a in _accounts(settings).all()
    ]
    print(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0


def add_user_commands(commands: Any) -> None:
    """Adds `users create`, `users list` and `users set-password` to the `firstline` parser's subcommands."""
    from bot.store.accounts import ROLES

    users = commands.add_parser("users", help="console accounts (agents, trainers, admins)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    create = user_commands.add_parser("create", help="create an account (the first admin, say)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", choices=ROLES, default="agent")
    create.add_argument("--name", help="the name colleagues see (default: the username)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input, not a prompt"
    )
    create.set_defaults(handler=cmd_users_create)
    user_commands.add_parser("list", help="list accounts as JSON").set_defaults(handler=cmd_users_list)
    reset = user_commands.add_parser(
        "set-password",
        help="set a new password (and re-enable the account): the way back for a locked-out admin",
    )
    reset.add_argument("--username", required=True)
    reset.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input, not a prompt"
    )
    reset.set_defaults(handler=cmd_users_set_password)
