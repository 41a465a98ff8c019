"""Leader leases in the store: which instance does a job that only one may do at a time.

Polling a platform account is such a job: Telegram ends a second `getUpdates` with 409 Conflict,
and X bills every read, so two instances polling one account pay twice for nothing. The holder
renews its lease on every round; when it dies, the lease runs out and another instance takes the
job over within `seconds`. Every change is one conditional statement, so two instances asking at
once cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.store.models import Lease

__all__ = ["Holder", "Leases"]


@dataclass(frozen=True, slots=True)
class Holder:
    role: str
    holder: str
    expires_at: float
    """Seconds since the epoch."""


class Leases:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def hold(self, role: str, holder: str, seconds: float, now: float) -> bool:
        """Takes or renews `role` for `holder` until `now + seconds`; False while another holds it."""
        until = now + seconds
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(Lease)
                .where(Lease.role == role, (Lease.holder == holder) | (Lease.expires_at <= now))
                .values(holder=holder, expires_at=until)
            ).rowcount
        if taken:
            return True
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(Lease).values(role=role, holder=holder, expires_at=until))
        except IntegrityError:
            return False  # the role exists and another instance holds it
        return True

    def release(self, role: str, holder: str) -> None:
        """Gives `role` up at once (a clean stop), so another instance need not wait for it to run out."""
        with self.engine.begin() as conn:
            conn.execute(
                update(Lease).where(Lease.role == role, Lease.holder == holder).values(expires_at=0.0)
            )

    def holders(self, now: float) -> list[Holder]:
        """Every role held right now."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Lease).where(Lease.expires_at > now).order_by(Lease.role)).all()
        return [Holder(r.role, r.holder, r.expires_at) for r in rows]
