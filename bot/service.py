"""Builds the running Firstline service from settings: store, model, adapters, gateway."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.adapters import ADAPTERS, BaseAdapter
from bot.delivery import Delivery
from bot.errors import ModelNotFound
from bot.followup_scheduler import FollowupScheduler
from bot.followups import FollowupPolicy
from bot.gateway import Gateway
from bot.language import LanguageDetector
from bot.messages import InboundMessage, utcnow
from bot.model_store import find_model
from bot.outbox import OutboxWorker
from bot.rasa_runtime import RasaRuntime
from bot.rate_limits import Limits
from bot.routing import Outcome
from bot.settings import Settings
from bot.store import CaseworkRepository, Repository
from bot.store.leases import Leases
from bot.store.reporting import Reporting
from bot.store.review import ReviewInbox
from bot.store.stores import Stores
from bot.store.unreadable import UnreadableStore
from bot.wording import phrasebook

__all__ = ["Service"]

logger = logging.getLogger(__name__)


@dataclass
class Service:
    settings: Settings
    stores: Stores
    """Every store, the console's own among them (accounts, sessions, sign-in failures)."""
    rasa: RasaRuntime
    adapters: dict[str, BaseAdapter]
    gateway: Gateway
    delivery: Delivery
    outbox: OutboxWorker
    limits: Limits
    followups: FollowupScheduler
    instance_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    """This process among the instances sharing the store: the holder named in leases."""
    _leading: set[str] = field(default_factory=set)

    # The stores the service's callers use most, named here for them; `stores` owns them.

    @property
    def repository(self) -> Repository:
        return self.stores.repository

    @property
    def casework(self) -> CaseworkRepository:
        """The handoffs' whole life: opened by the bot, worked and closed by people."""
        return self.stores.casework

    @property
    def reporting(self) -> Reporting:
        """The figures of the metrics page and endpoints."""
        return self.stores.reporting

    @property
    def review_inbox(self) -> ReviewInbox:
        """Messages the model was unsure of, for the trainers."""
        return self.stores.review_inbox

    @property
    def unreadable(self) -> UnreadableStore:
        """Platform updates no parser could read, kept raw for people to see."""
        return self.stores.unreadable

    @property
    def leases(self) -> Leases:
        """Which instance polls each platform account."""
        return self.stores.leases

    @classmethod
    def build(
        cls,
        settings: Settings,
        model_path: Path | None = None,
        rasa: RasaRuntime | None = None,
        extra_adapters: Sequence[BaseAdapter] = (),
    ) -> Service:
        """Wires everything up: the one place that constructs the service's stores and workers.

        `rasa` lets tests share one loaded model between services, and `extra_adapters` adds
        platforms that are not configured from settings (the fake one).

        Raises:
            ModelNotFound: no model for the current data.
            SettingsError: a setting cannot be used (the business hours, say).
        """
        stores = Stores.open(settings)
        engine, repository, casework = stores.engine, stores.repository, stores.casework
        if rasa is None:
            model = model_path or find_model(settings.project_dir, settings.model_dir)
            if model is None:
                raise ModelNotFound(
                    f"no model for the current data in {settings.model_dir}; run `firstline train`"
                )
            rasa = RasaRuntime.load(settings, model)
        adapters: dict[str, BaseAdapter] = {}
        for name, adapter_class in ADAPTERS.items():
            adapter = adapter_class.from_settings(settings, stores.spend)
            if adapter is None:
                logger.info("%s adapter: not configured, not started", name)
                continue
            adapters[name] = adapter
            logger.info("%s adapter: ready", name)
        adapters.update((adapter.name, adapter) for adapter in extra_adapters)
        delivery = Delivery(
            repository,
            adapters,
            max_attempts=settings.send_max_attempts,
            first_backoff=settings.send_backoff_seconds,
        )
        limits = Limits.from_settings(settings, engine)
        gateway = Gateway(
            settings,
            repository,
            casework,
            rasa,
            adapters,
            delivery,
            stores.review_inbox,
            stores.case_locks,
            limits,
            LanguageDetector(),
        )
        followups = FollowupScheduler(
            stores.followups,
            delivery,
            FollowupPolicy.from_settings(settings),
            phrasebook(rasa.domain.responses),
            interval=settings.followup_poll_seconds,
        )
        return cls(
            settings,
            stores,
            rasa,
            adapters,
            gateway,
            delivery,
            OutboxWorker(delivery, gateway.resume),
            limits,
            followups,
        )

    # The Inbox that receiving adapters talk to (see `bot.adapters.base.Inbox`).

    async def receive(self, message: InboundMessage) -> Outcome:
        return await self.gateway.receive(message)

    def cursor(self, name: str) -> str | None:
        return self.repository.cursor(name)

    def save_cursor(self, name: str, value: str) -> None:
        self.repository.save_cursor(name, value)

    def lead(self, role: str, seconds: float) -> bool:
        held = self.leases.hold(role, self.instance_id, seconds, time.time())
        if held and role not in self._leading:
            logger.info("%s: this instance (%s) leads it now", role, self.instance_id)
        if held:
            self._leading.add(role)
        else:
            self._leading.discard(role)
        return held

    def keep_unreadable(self, platform: str, external_id: str | None, raw: Any, error: str) -> None:
        if self.unreadable.keep(platform, external_id, raw, error, utcnow()):
            logger.warning("%s: update %s kept raw, it could not be read: %s", platform, external_id, error)

    async def start(self) -> None:
        for adapter in self.adapters.values():
            await adapter.start(self)
        self.followups.start()
        self.outbox.start()

    async def stop(self) -> None:
        for role in list(self._leading):
            self.leases.release(role, self.instance_id)  # another instance need not wait
        await self.followups.stop()
        await self.outbox.stop()
        await self.rasa.flush()
        for adapter in self.adapters.values():
            await adapter.stop()
        await self.limits.close()
        self.stores.close()
