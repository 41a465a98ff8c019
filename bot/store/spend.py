"""What paid platform APIs have cost, kept in the store: the daily budget, the spend counter and
the metrics page's chart all read it, and every instance adds to the same sums.

A charge is kept at most once per resource, operation and UTC day, which is how X deduplicates
its bill: re-reading the same DM events in one day costs once, and is counted once here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.store.models import SpendCharge
from bot.x_costs import Charge

__all__ = ["SpendLedger"]


class SpendLedger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def charge(
        self, platform: str, charges: Sequence[Charge], prices: dict[str, float], now: datetime
    ) -> float:
        """Records `charges` at `prices` (USD per operation) and returns what was new to today's bill.

        A charge already recorded today (the same resource read again) adds nothing. Two instances
        recording the same charge at once: one insert wins, the other sees it on the retry.
        """
        day = now.date().isoformat()
        wanted = {(c.operation, c.resource_id) for c in charges if c.operation in prices}
        for _ in range(3):
            with self.engine.begin() as conn:
                known = {
                    (row.operation, row.resource_id)
                    for row in conn.execute(
                        select(SpendCharge.operation, SpendCharge.resource_id).where(
                            SpendCharge.day == day,
                            SpendCharge.platform == platform,
                            SpendCharge.resource_id.in_([r for _, r in wanted]),
                        )
                    )
                }
                new = sorted(wanted - known)
                if not new:
                    return 0.0
                rows = [
                    {
                        "day": day,
                        "platform": platform,
                        "operation": operation,
                        "resource_id": resource_id,
                        "usd": prices[operation],
                        "charged_at": now,
                    }
                    for operation, resource_id in new
                ]
                try:
                    conn.execute(insert(SpendCharge), rows)
                except IntegrityError:
                    continue  # another instance recorded some of them first: read again
                return sum(row["usd"] for row in rows)
        return 0.0

    def spent_on(self, platform: str, day: date) -> float:
        """USD charged on one UTC day."""
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(SpendCharge.usd), 0.0)).where(
                    SpendCharge.day == day.isoformat(), SpendCharge.platform == platform
                )
            ).scalar_one()
        return float(total)

    def totals(self, platform: str) -> dict[str, float]:
        """USD charged so far, by operation (the Prometheus counter)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SpendCharge.operation, func.sum(SpendCharge.usd))
                .where(SpendCharge.platform == platform)
                .group_by(SpendCharge.operation)
            ).all()
        return {operation: float(usd) for operation, usd in rows}

    def daily(self, platform: str, last_day: date, days: int) -> dict[str, dict[str, float]]:
        """USD per operation for each of the `days` UTC days up to `last_day`: {day: {operation: usd}}.

        Every day is present, the quiet ones with nothing, so a chart shows the gaps.
        """
        first = last_day - timedelta(days=days - 1)
        out: dict[str, dict[str, float]] = {(first + timedelta(days=i)).isoformat(): {} for i in range(days)}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SpendCharge.day, SpendCharge.operation, func.sum(SpendCharge.usd))
                .where(
                    SpendCharge.platform == platform,
                    SpendCharge.day >= first.isoformat(),
                    SpendCharge.day <= last_day.isoformat(),
                )
                .group_by(SpendCharge.day, SpendCharge.operation)
            ).all()
        for day, operation, usd in rows:
            out.setdefault(day, {})[operation] = float(usd)
        return out
