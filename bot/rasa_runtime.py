"""Rasa, loaded inside the Firstline service.

The service keeps the trained model in its own process instead of calling a separate Rasa
server: the acknowledgement path saves an HTTP hop and a copy of the model per message. Rasa's own
stores are used as Rasa users know them (SQL tracker store, Redis lock store when several
instances run). Custom actions run in-process through rasa-sdk's executor unless an action server
URL is configured, in which case Rasa calls it over HTTP as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock import TicketLock
from rasa.core.lock_store import InMemoryLockStore, LockError, LockStore, RedisLockStore
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore, TrackerStore, create_engine_kwargs
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk.executor import ActionExecutor
from redis.exceptions import RedisError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from bot.graph_runner import SequentialGraphRunner
from bot.log_format import quiet_rasa_logging
from bot.settings import Settings
from bot.store.models import tracker_id
from bot.tracker_store import WriteBehindTrackerStore
from bot.triage import FALLBACK_INTENT
from bot.wording import phrasebook

__all__ = ["InProcessActions", "RasaRuntime", "first_text"]

logger = logging.getLogger(__name__)

INPUT_CHANNEL = "firstline"


class InProcessActions(EndpointConfig):
    """An action endpoint that runs the project's rasa-sdk actions without an HTTP round trip.

    Rasa's `RemoteAction` calls `request(json=...)` and reads the action server's JSON answer;
    this answers the same call by handing it to rasa-sdk's executor in this process.
    """

    def __init__(self, package: str = "actions") -> None:
        super().__init__(url=f"inprocess://{package}")
        self.executor = ActionExecutor()
        self.executor.register_package(package)

    async def request(
        self,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any:
        return await self.executor.run(kwargs["json"])


TRACKER_TABLES_LOCK = 0x46_4C_54_52  # "FLTR"
"""The PostgreSQL advisory lock key under which Rasa's tracker tables are created."""


def _create_tracker_tables(url: str) -> None:
    """Creates Rasa's tracker tables on PostgreSQL one instance at a time.

    Rasa's SQLTrackerStore creates them itself on first use, and instances started together on an
    empty database race: the losers hit a unique violation in PostgreSQL's catalogue, log it and
    sleep five seconds before they try again. Under the lock the first creates the tables and the
    others find them there, so Rasa's own creation has nothing left to do.
    """
    engine = create_engine(url, future=True)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TRACKER_TABLES_LOCK})
            SQLTrackerStore.Base.metadata.create_all(connection)
    finally:
        engine.dispose()


def tracker_store_for(url: str, domain: Domain) -> TrackerStore:
    if url == "memory":
        return InMemoryTrackerStore(domain)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "postgresql":
        _create_tracker_tables(url)
    store = SQLTrackerStore(
        domain,
        dialect=parsed.drivername,
        host=parsed.host,
        port=parsed.port,
        db=parsed.database or "rasa",
        username=parsed.username,
        password=parsed.password,
    )
    if parsed.get_backend_name() == "postgresql":
        # Rasa's engine does not test a pooled connection before use, so after a database restart
        # each stale connection failed one turn (an apology instead of the answer). The same
        # engine, pinging first, as Firstline's own store does.
        engine_url = store.engine.url
        store.engine.dispose()
        store.engine = create_engine(engine_url, pool_pre_ping=True, **create_engine_kwargs(engine_url))
        store.sessionmaker = sessionmaker(bind=store.engine)
    return store


class LeasedRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store, with tickets that last one turn lease and a wait that ends.

    Rasa takes a ticket per conversation for each message and gives it back when the message is
    done. An instance killed mid-turn never gives it back, and two things then held the next turn
    of that conversation on another instance, which kept renewing its claim all the while:
    - the dead ticket lasted Rasa's 60 s;
    - the waiting ticket expires too, as long after it was issued, and Rasa's wait (a poll every
      second) only ends in the moment between the two expiries: a poll that misses it finds its own
      ticket gone and waits for ever. The fault suite lost a message that way.

    Here a ticket lasts the turn lease, the time after which the service treats an instance as
    gone, and a waiter whose own ticket has run out goes ahead: every ticket before it was issued
    earlier with the same lifetime, so it has run out too. The order of a case's turns never rests
    on these tickets: the service's case lock (`bot.store.case_locks`) keeps it.
    """

    def __init__(self, *, lifetime: float, **redis: Any) -> None:
        super().__init__(**redis)
        self.lifetime = lifetime

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = 0) -> int:
        return super().issue_ticket(conversation_id, self.lifetime)

    @contextlib.asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = 0, wait_time_in_seconds: float = 1
    ) -> AsyncIterator[TicketLock]:
        """Rasa's lock, or, while Redis cannot be reached, none: the turn goes on under the case
        lock alone instead of failing, so a Redis outage costs no customer an answer."""
        try:
            ticket = self.issue_ticket(conversation_id)
        except LockError as exc:
            logger.warning("Rasa's lock store is unreachable, going on without it: %s", exc)
            yield TicketLock(conversation_id)
            return
        try:
            try:
                lock = await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
            except RedisError as exc:
                logger.warning("Rasa's lock store is unreachable, going on without it: %s", exc)
                lock = TicketLock(conversation_id)
            yield lock
        finally:
            try:
                self.cleanup(conversation_id, ticket)
            except RedisError as exc:  # the ticket runs out with its lifetime
                logger.warning("could not give back Rasa's ticket for %s: %s", conversation_id, exc)

    async def _acquire_lock(
        self, conversation_id: str, ticket: int, wait_time_in_seconds: float
    ) -> TicketLock:
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None:
                return TicketLock(conversation_id)
            lock.remove_expired_tickets()
            waiting = any(issued.number == ticket for issued in lock.tickets)
            if not waiting or not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)


def lock_store_for(url: str, lifetime: float) -> LockStore:
    """Rasa's lock store: in memory for one instance, Redis (tickets lasting `lifetime`
    seconds, the turn lease) when several share the tracker."""
    if not url:
        return InMemoryLockStore()
    parsed = make_url(url)
    return LeasedRedisLockStore(
        lifetime=lifetime,
        host=parsed.host or "localhost",
        port=parsed.port or 6379,
        db=int(parsed.database or 0),
        password=parsed.password,
        key_prefix="firstline",
    )


def first_text(domain: Domain, response: str) -> str | None:
    """The first (default-language) text variant of a domain response, for wording the service
    sends itself."""
    variants = phrasebook(domain.responses).get(response)
    return variants[0] if variants else None


def disarm_intent_syntax(text: str) -> str:
    """Rasa reads text starting with '/' as an intent ('/request_human'); customers may not."""
    stripped = text.lstrip()
    return stripped.lstrip("/") if stripped.startswith("/") else text


def validate_action_results_once() -> None:
    """Makes Rasa's check of every custom action's result cheap, without changing what it checks.

    Rasa 3.6 calls `jsonschema.validate` on each result, which first validates the schema itself
    against its metaschema: about 37 ms per action here, most of a complaint's handling time. The
    same schema is now compiled into a validator once; an invalid result still goes through
    Rasa's own method, so it fails with Rasa's own error message.
    """
    from jsonschema import ValidationError, validators
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction, "_firstline_compiled_validation", False):
        return
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    rasa_validate = RemoteAction._validate_action_result

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError:
            return rasa_validate(self, result)
        return True

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RemoteAction._firstline_compiled_validation = True  # type: ignore[attr-defined]


class RasaRuntime:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @classmethod
    def load(cls, settings: Settings, model_path: Path) -> RasaRuntime:
        quiet_rasa_logging()
        validate_action_results_once()
        logger.info("loading the Rasa model %s", model_path.name)
        action_endpoint = (
            EndpointConfig(url=settings.action_server_url)
            if settings.action_server_url
            else InProcessActions()
        )
        agent = Agent.load(
            str(model_path),
            lock_store=lock_store_for(settings.redis_url, settings.turn_lease_seconds),
            action_endpoint=action_endpoint,
        )
        if agent.domain is None or agent.processor is None:
            raise RuntimeError(f"{model_path} holds no usable model")
        if isinstance(agent.processor.graph_runner, DaskGraphRunner):
            agent.processor.graph_runner = SequentialGraphRunner.adopt(agent.processor.graph_runner)
        store = tracker_store_for(settings.rasa_tracker_url, agent.domain)
        if not isinstance(store, InMemoryTrackerStore):
            store = WriteBehindTrackerStore(store)
        agent.tracker_store = store
        agent.processor.tracker_store = agent.tracker_store
        return cls(agent)

    @property
    def domain(self) -> Domain:
        assert self.agent.domain is not None
        return self.agent.domain

    async def flush(self) -> None:
        """Waits for Rasa's tracker writes that follow the replies (see `bot.tracker_store`)."""
        store = self.agent.tracker_store
        if isinstance(store, WriteBehindTrackerStore):
            await store.flush()

    async def end_turn(self, conversation_id: int, *, ended: bool, wait: bool) -> None:
        """Settles the tracker Rasa saved in a conversation's turn (`bot.tracker_store`).

        `ended`: the turn ended here, so its tracker is written; otherwise (another instance took
        the turn over, or it failed) it is dropped. `wait`: return only once it is written, for
        when the next turn of the case may run on another instance, which reads the database.
        """
        store = self.agent.tracker_store
        if not isinstance(store, WriteBehindTrackerStore):
            return
        sender_id = tracker_id(conversation_id)
        if not ended:
            store.discard(sender_id)
            return
        writer = store.commit(sender_id)
        if wait and writer is not None:
            await writer

    async def parse(self, text: str) -> dict[str, Any]:
        """NLU only: intent, ranking, entities and response-selector results for `text`.

        Blank text never reaches the pipeline: several of Rasa's featurizers skip an empty
        message, and the classifier then fails on a shorter feature vector. There is nothing to
        understand in it, so it is reported as not understood.
        """
        cleaned = disarm_intent_syntax(text)
        if not cleaned.strip():
            return {
                "text": text,
                "intent": {"name": FALLBACK_INTENT, "confidence": 1.0},
                "intent_ranking": [{"name": FALLBACK_INTENT, "confidence": 1.0}],
                "entities": [],
            }
        return await self.agent.parse_message(cleaned)

    async def respond(
        self,
        *,
        sender_id: str,
        text: str,
        parse_data: dict[str, Any],
        metadata: dict[str, Any],
        message_id: str,
    ) -> list[dict[str, Any]]:
        """Runs the dialogue for an already parsed message; returns what the bot says."""
        collector = CollectingOutputChannel()
        await self.agent.handle_message(
            UserMessage(
                text=text,
                output_channel=collector,
                sender_id=sender_id,
                parse_data=parse_data,
                input_channel=INPUT_CHANNEL,
                message_id=message_id,
                metadata=metadata,
            )
        )
        return collector.messages
