"""Every store on one engine, opened in one place.

The service's composition root (`Service.build`) takes its stores from here, and so do the
operator's commands (`firstline handoffs`, `users`, `privacy`, `nlu export`), which run beside
the service without its model: one place decides how a store is built from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.settings import Settings
from bot.store.accounts import AccountRepository
from bot.store.case_locks import CaseLocks
from bot.store.casework import CaseworkRepository
from bot.store.console_sessions import SessionStore
from bot.store.database import create_lock_engine, create_store_engine, migrate
from bot.store.followups import FollowupStore
from bot.store.leases import Leases
from bot.store.login_failures import FORGET_AFTER, LoginFailureStore
from bot.store.reporting import Reporting
from bot.store.repository import Repository
from bot.store.review import ReviewInbox
from bot.store.spend import SpendLedger
from bot.store.unreadable import UnreadableStore

__all__ = ["Stores"]


@dataclass(frozen=True)
class Stores:
    engine: Engine
    repository: Repository
    """Conversations, messages and the turn pipeline's claims."""
    casework: CaseworkRepository
    """The handoffs' whole life: opened by the bot, worked and closed by people."""
    accounts: AccountRepository
    console_sessions: SessionStore
    login_failures: LoginFailureStore
    review_inbox: ReviewInbox
    """Messages the model was unsure of, for the trainers."""
    unreadable: UnreadableStore
    """Platform updates no parser could read, kept raw for people to see."""
    leases: Leases
    """Which instance polls each platform account."""
    spend: SpendLedger
    case_locks: CaseLocks
    followups: FollowupStore
    reporting: Reporting
    """The figures of the metrics page and endpoints."""

    def close(self) -> None:
        """Gives back every connection, the case locks' too."""
        self.engine.dispose()
        if self.case_locks.engine is not None:
            self.case_locks.engine.dispose()

    @classmethod
    def open(cls, settings: Settings) -> Stores:
        """Connects to the configured store and brings its schema to the newest revision."""
        engine = create_store_engine(settings.store_url)
        migrate(engine)
        spend = SpendLedger(engine)
        leases = Leases(engine)
        return cls(
            engine=engine,
            repository=Repository(
                engine,
                lease=timedelta(seconds=settings.turn_lease_seconds),
                join_token_ttl=timedelta(days=settings.join_token_days),
            ),
            casework=CaseworkRepository(engine),
            accounts=AccountRepository(engine),
            console_sessions=SessionStore(
                engine,
                lifetime=timedelta(hours=settings.console_session_hours),
                idle_timeout=timedelta(minutes=settings.console_idle_minutes),
            ),
            login_failures=LoginFailureStore(engine, FORGET_AFTER),
            review_inbox=ReviewInbox(engine),
            unreadable=UnreadableStore(engine),
            leases=leases,
            spend=spend,
            case_locks=CaseLocks(create_lock_engine(settings.store_url)),
            followups=FollowupStore(engine),
            reporting=Reporting(engine, spend, leases),
        )
