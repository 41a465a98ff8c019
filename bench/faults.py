"""The fault suite: several Firstline instances on one PostgreSQL store, faults on a schedule, and a
count of what the customers got.

Starts N `firstline run` processes that share a fresh PostgreSQL database (store and Rasa tracker)
and Redis, drives web-channel customers through all of them in turn (each customer's messages go
to a different instance than the one before, as a load balancer would send them), and meanwhile:

- kills one instance with SIGKILL in the middle of the load, a few milliseconds after sending it a
  message so that the kill lands mid-turn, and starts it again a few seconds later;
- freezes another with SIGSTOP for twice the turn lease, then lets it go on (SIGCONT), three
  times, each a few milliseconds after sending it a message, so that a freeze lands mid-turn.

A request that fails (its instance died under it) is sent again to another instance with the same
`message_id`, as a platform redelivers. When the load ends and the outbox has settled, the store is
read with SQL and one table is printed: messages sent and accepted, lost, answered twice, answered
out of order, replies stuck in the outbox, cases with two handoffs open, and latency. It exits
non-zero on any loss, double answer or reordering.

    python bench/faults.py                       # 2 instances, 40 s, about 6 messages a second
    python bench/faults.py --duration 600 --rate 20 --instances 3
    FAULTS_LOG_LEVEL=INFO python bench/faults.py --keep-logs   # the instances' logs, in detail

Rasa's trackers are checked too: each message the bot answered must be one user turn in its
conversation's tracker, neither missing nor there twice. By hand, `--restart-postgres` and
`--stop-redis` add a restart of the database server and a Redis outage after the freezes (they
touch services other programs share, so the short run in `scripts/test` leaves them out).
Telegram and X traffic and the platforms' 429s and 5xx are not injected yet (see issue 16).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from time_to_ack import BIN, ROOT, Proc, free_port, start

logger = logging.getLogger("bench.faults")

POSTGRES = os.environ.get("FIRSTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("FIRSTLINE_TEST_REDIS", "redis://127.0.0.1:6379/0")
TEXTS = (
    "hi there",
    "what are your opening hours?",
    "thanks so much, you are great",
    "my parcel never arrived and nobody answers",
    "can I change my delivery address?",
    "ok thanks",
)


@dataclass
class Sent:
    message_id: str
    customer: int
    order: int
    """Its place among its customer's messages."""
    accepted: bool = False
    attempts: int = 0
    latency: float | None = None
    status: str | None = None
    """What the instance that finally took it said: answered, attached, duplicate, taken_over..."""


@dataclass
class Load:
    sent: list[Sent] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def _database(admin_url: str) -> tuple[str, str]:
    """A fresh database on the PostgreSQL server of `admin_url`: (its URL, its name)."""
    name = f"firstline_faults_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}", name


def _drop(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reachable(redis_url: str) -> bool:
    """Whether Redis answers; without it the instances keep Rasa's locks in their own memory
    (Firstline's own case lock is in PostgreSQL either way)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        logger.warning("Redis is not reachable at %s; running without it", redis_url)
        return False
    finally:
        client.close()


class Cluster:
    """N instances on one store; each can be killed, restarted, frozen and thawed."""

    def __init__(self, count: int, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.ports = [free_port() for _ in range(count)]
        self.procs: dict[str, Proc] = {}
        self.restarts = 0

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def start(self, index: int) -> None:
        name = f"instance-{index}-{self.restarts}"
        argv = [str(BIN / "firstline"), "run", "--port", str(self.ports[index])]
        self.procs[str(index)] = start(name, argv, self.env, self.logs)

    def wait(self, timeout: float) -> None:
        """Until every instance answers `/healthz`; an instance that exits is an error."""
        deadline = time.monotonic() + timeout
        pending = set(range(len(self.ports)))
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for index in list(pending):
                    proc = self.procs[str(index)]
                    if proc.popen.poll() is not None:
                        raise RuntimeError(f"instance {index} exited:\n{proc.tail()}")
                    try:
                        if client.get(f"{self.url(index)}/healthz").status_code == 200:
                            pending.discard(index)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"instances {sorted(pending)} not up after {timeout:.0f} s")
                time.sleep(0.5)

    def signal(self, index: int, sig: signal.Signals) -> None:
        os.killpg(self.procs[str(index)].popen.pid, sig)

    def stop(self) -> None:
        for proc in self.procs.values():
            try:
                os.killpg(proc.popen.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            proc.stop()


async def _visitor(cluster: Cluster, http: httpx.AsyncClient, instance: int) -> bool:
    """Gets `http` a visitor cookie, from `instance` or, failing that, the others."""
    for _ in range(20):
        try:
            made = await http.post(f"{cluster.url(instance)}/api/web/visitor", json={})
            if made.status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        instance = (instance + 1) % len(cluster.ports)
        await asyncio.sleep(0.5)
    return False


async def _send(
    cluster: Cluster,
    http: httpx.AsyncClient,
    sent: Sent,
    text: str,
    instance: int,
    patience: float,
    load: Load,
) -> None:
    """One message until an instance takes it: a request that fails, or gets no answer within
    `patience` (its instance is frozen), goes again to the next instance with the same message_id."""
    body = {"text": text, "message_id": sent.message_id}
    started = time.monotonic()
    while not sent.accepted and sent.attempts < 20:
        if sent.attempts:
            instance = (instance + 1) % len(cluster.ports)
        sent.attempts += 1
        try:
            answer = await asyncio.wait_for(
                http.post(f"{cluster.url(instance)}/api/web/messages", json=body), patience
            )
        except (httpx.HTTPError, asyncio.TimeoutError) as exc:
            load.errors[type(exc).__name__] += 1
            logger.debug("%.1f %s on instance %d", time.monotonic(), type(exc).__name__, instance)
            await asyncio.sleep(0.3)
            continue
        if answer.status_code == 200:
            sent.accepted = True
            sent.latency = time.monotonic() - started
            sent.status = str(answer.json().get("status"))
            logger.debug("%.1f ok on instance %d", time.monotonic(), instance)
        else:
            load.errors[f"HTTP {answer.status_code}"] += 1
            await asyncio.sleep(0.3)


async def _probe(
    cluster: Cluster, instance: int, load: Load, patience: float, sending: asyncio.Event
) -> None:
    """A complaint sent to `instance` just before it is frozen, so the freeze lands mid-turn."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        if not await _visitor(cluster, http, (instance + 1) % len(cluster.ports)):
            load.errors["no visitor cookie"] += 1
            return
        sent = Sent(uuid.uuid4().hex, -1, 0)
        load.sent.append(sent)
        sending.set()
        await _send(
            cluster, http, sent, "my parcel never arrived and nobody answers", instance, patience, load
        )
        logger.debug("the probe: %s after %d attempt(s)", sent.status, sent.attempts)


async def _customer(
    cluster: Cluster, number: int, messages: int, gap: float, load: Load, stop_at: float, patience: float
) -> None:
    """One web customer: a visitor cookie (valid on every instance), then messages one after
    another, each to an instance picked at random. A request that fails, or gets no answer within
    `patience` (its instance is frozen), goes again to the next instance with the same message_id."""
    async with httpx.AsyncClient(timeout=30.0) as http:
        if not await _visitor(cluster, http, number % len(cluster.ports)):
            load.errors["no visitor cookie"] += 1
            return
        for order in range(messages):
            if time.monotonic() > stop_at:
                return
            sent = Sent(uuid.uuid4().hex, number, order)
            load.sent.append(sent)
            # A balancer's choice for the message; a retry goes to the next instance.
            await _send(
                cluster,
                http,
                sent,
                random.choice(TEXTS),
                random.randrange(len(cluster.ports)),
                patience,
                load,
            )
            await asyncio.sleep(gap * random.uniform(0.5, 1.5))


async def _faults(
    cluster: Cluster, args: argparse.Namespace, started: float, log: list[str], load: Load
) -> None:
    """The schedule: a kill at 30% of the run, just after a message reached the instance (and a
    restart 5 s later), freezes from 60%."""
    await asyncio.sleep(args.duration * 0.3)
    victim = 1 % args.instances
    sending = asyncio.Event()
    killed_probe = asyncio.create_task(_probe(cluster, victim, load, args.lease, sending))
    await sending.wait()
    await asyncio.sleep(args.kill_after)
    cluster.signal(victim, signal.SIGKILL)
    log.append(
        f"{time.monotonic() - started:5.1f} s  SIGKILL instance {victim} "
        f"{args.kill_after * 1000:.0f} ms after a message to it"
    )
    await asyncio.sleep(5.0)
    cluster.restarts += 1
    cluster.start(victim)
    log.append(f"{time.monotonic() - started:5.1f} s  instance {victim} starting again")
    await asyncio.to_thread(cluster.wait, 180.0)  # a freeze now would leave nobody to take over
    log.append(f"{time.monotonic() - started:5.1f} s  instance {victim} up")
    await killed_probe
    await asyncio.sleep(max(0.0, args.duration * 0.6 - (time.monotonic() - started)))
    frozen = 0
    # A turn lasts tens of milliseconds; freezes at a few points after a probe message is sent
    # make it likely that at least one lands in the middle of one.
    for delay in args.freeze_after:
        sending = asyncio.Event()
        probe = asyncio.create_task(_probe(cluster, frozen, load, args.lease, sending))
        await sending.wait()
        await asyncio.sleep(delay)
        cluster.signal(frozen, signal.SIGSTOP)
        log.append(
            f"{time.monotonic() - started:5.1f} s  SIGSTOP instance {frozen} {delay * 1000:.0f} ms after a "
            f"message to it, for {2 * args.lease:.0f} s"
        )
        await asyncio.sleep(2 * args.lease)
        cluster.signal(frozen, signal.SIGCONT)
        log.append(f"{time.monotonic() - started:5.1f} s  SIGCONT instance {frozen}")
        await probe
    if args.restart_postgres:
        log.append(f"{time.monotonic() - started:5.1f} s  PostgreSQL restarting: {args.restart_postgres}")
        await asyncio.to_thread(subprocess.run, args.restart_postgres, shell=True, check=True)
        log.append(f"{time.monotonic() - started:5.1f} s  PostgreSQL up")
    if args.stop_redis:
        await asyncio.to_thread(subprocess.run, ["redis-cli", "-u", REDIS, "shutdown", "nosave"], check=False)
        log.append(f"{time.monotonic() - started:5.1f} s  Redis stopped for {args.stop_redis:.0f} s")
        await asyncio.sleep(args.stop_redis)
        await asyncio.to_thread(subprocess.run, args.start_redis, shell=True, check=True)
        log.append(f"{time.monotonic() - started:5.1f} s  Redis started: {args.start_redis}")


def _settle(url: str, timeout: float) -> bool:
    """Waits until no accepted message is unfinished and no reply waits in the outbox."""
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(
                    text(
                        "SELECT count(*) FROM messages WHERE (direction = 'in' AND status = 'received') "
                        "OR (direction = 'out' AND status IN ('pending', 'sending'))"
                    )
                ).scalar_one()
            if not busy:
                return True
            time.sleep(1.0)
        return False
    finally:
        engine.dispose()


def _check(url: str, load: Load) -> dict[str, Any]:
    """What the customers got, read from the store."""
    engine = create_engine(url)
    with engine.connect() as conn:
        inbound = {
            row.external_id: row
            for row in conn.execute(
                text("SELECT id, external_id, case_id, status FROM messages WHERE direction = 'in'")
            )
        }
        replies = conn.execute(
            text(
                "SELECT id, case_id, in_reply_to_id, text, status, author, created_at FROM messages "
                "WHERE direction = 'out' ORDER BY id"
            )
        ).all()
        two_open = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT case_id FROM handoffs WHERE status = 'open' "
                "GROUP BY case_id HAVING count(*) > 1) AS doubled"
            )
        ).scalar_one()
        # Rasa's tracker: each message the bot answered is one user event, with the store's
        # message id, in its conversation's tracker; missing is a lost turn, twice a doubled one.
        tracked = Counter(
            str(json.loads(data).get("message_id"))
            for (data,) in conn.execute(text("SELECT data FROM events WHERE type_name = 'user'"))
        )
    engine.dispose()
    handled = [str(row.id) for row in inbound.values() if row.status == "handled"]
    tracker_lost = sum(1 for message_id in handled if not tracked[message_id])
    tracker_twice = sum(1 for message_id in handled if tracked[message_id] > 1)
    accepted = [s for s in load.sent if s.accepted]
    lost = [s for s in accepted if s.message_id not in inbound or inbound[s.message_id].status == "received"]
    by_id = {row.id: row for row in inbound.values()}
    # A turn queues all its replies in one transaction, stamped with one time: replies to one
    # message with two different stamps come from two turns.
    turns: dict[int, set[Any]] = defaultdict(set)
    for reply in replies:
        if reply.author == "bot" and reply.in_reply_to_id:
            turns[reply.in_reply_to_id].add(reply.created_at)
    twice = sum(1 for stamps in turns.values() if len(stamps) > 1)
    order: dict[int, list[int]] = defaultdict(list)
    for reply in replies:
        if reply.author == "bot" and reply.in_reply_to_id in by_id:
            order[reply.case_id].append(reply.in_reply_to_id)
    reordered = sum(1 for answered in order.values() if answered != sorted(answered))
    stuck = sum(1 for r in replies if r.status in ("pending", "sending"))
    latencies = sorted(s.latency for s in accepted if s.latency is not None)

    def pct(p: float) -> float | None:
        return (
            round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000) if latencies else None
        )

    return {
        "sent": len(load.sent),
        "accepted": len(accepted),
        "stored": len(inbound),
        "lost": len(lost),
        "answered twice": twice,
        "out of order (cases)": reordered,
        "outbox stuck": stuck,
        "cases with two open handoffs": two_open,
        "tracker turns lost": tracker_lost,
        "tracker turns doubled": tracker_twice,
        "redelivered by the client": sum(1 for s in load.sent if s.attempts > 1),
        "outcomes": dict(Counter(s.status for s in accepted)),
        "p50 ms": pct(0.5),
        "p99 ms": pct(0.99),
        "client errors": dict(load.errors),
    }


async def _run(args: argparse.Namespace, cluster: Cluster) -> tuple[Load, list[str]]:
    load, log = Load(), []
    started = time.monotonic()
    stop_at = started + args.duration
    gap = args.customers / args.rate
    customers = [
        asyncio.create_task(_customer(cluster, n, args.messages, gap, load, stop_at, args.lease))
        for n in range(args.customers)
    ]
    faults = asyncio.create_task(_faults(cluster, args, started, log, load))
    await asyncio.gather(*customers)
    await faults
    return load, log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=6.0, help="messages a second, all customers together")
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--messages", type=int, default=8, help="at most this many per customer")
    parser.add_argument("--lease", type=float, default=3.0, help="FIRSTLINE_TURN_LEASE_SECONDS")
    parser.add_argument("--postgres", default=POSTGRES, help="a database URL on the server to use")
    parser.add_argument(
        "--freeze-after",
        type=float,
        nargs="+",
        default=[0.01, 0.025, 0.04],
        help="freeze instance 0 this long after sending it a message, once per value (seconds)",
    )
    parser.add_argument(
        "--kill-after",
        type=float,
        default=0.015,
        help="kill instance 1 this long after sending it a message, so the kill lands mid-turn (seconds)",
    )
    parser.add_argument(
        "--restart-postgres",
        metavar="COMMAND",
        help="after the freezes, restart the PostgreSQL server with this command, e.g. "
        "'pg_ctlcluster 15 main restart' (every client of that server loses its connections)",
    )
    parser.add_argument(
        "--stop-redis", type=float, default=0.0, metavar="SECONDS", help="then stop Redis this long"
    )
    parser.add_argument(
        "--start-redis",
        default="redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no",
        help="how to start Redis again after --stop-redis",
    )
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="every request's outcome, with its time")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.instances < 2:
        parser.error("the suite needs at least two instances")

    url, name = _database(args.postgres)
    logs = Path(tempfile.mkdtemp(prefix="firstline-faults-"))
    env = {
        **os.environ,
        "FIRSTLINE_DATA_DIR": str(logs / "data"),
        "FIRSTLINE_PROJECT_DIR": str(ROOT),
        "FIRSTLINE_DATABASE_URL": url,
        "FIRSTLINE_TRACKER_STORE_URL": url,
        "FIRSTLINE_REDIS_URL": REDIS if _reachable(REDIS) else "",
        "FIRSTLINE_TURN_LEASE_SECONDS": str(args.lease),
        "FIRSTLINE_SESSION_SECRET": uuid.uuid4().hex,
        "FIRSTLINE_LOG_LEVEL": os.environ.get("FAULTS_LOG_LEVEL", "WARNING"),
        "FIRSTLINE_RATE_LIMIT_WEB_PER_ADDRESS": "0",
        "FIRSTLINE_RATE_LIMIT_WEB_PER_VISITOR": "0",
        "FIRSTLINE_RATE_LIMIT_REPLIES_PER_ACCOUNT": "0",
    }
    cluster = Cluster(args.instances, env, logs)
    try:
        subprocess.run([str(BIN / "firstline"), "db", "upgrade"], cwd=ROOT, env=env, check=True)
        # Trained once here: instances that each found no model would train it side by side, and
        # one would read the archive while another was still writing it.
        subprocess.run([str(BIN / "firstline"), "train"], cwd=ROOT, env=env, check=True)
        for index in range(args.instances):
            cluster.start(index)
        cluster.wait(timeout=180)
        logger.info("%d instances up; load for %.0f s", args.instances, args.duration)
        load, log = asyncio.run(_run(args, cluster))
        settled = _settle(url, timeout=max(30.0, 4 * args.lease))
        cluster.stop()  # each instance writes the trackers it still holds as it stops
        figures = _check(url, load)
    finally:
        cluster.stop()
        _drop(args.postgres, name)
    print("faults:")
    for line in log:
        print(f"  {line}")
    print("\n| measure | value |\n| --- | --- |")
    for key, value in figures.items():
        print(f"| {key} | {value} |")
    print(f"| settled | {'yes' if settled else 'no'} |")
    failed = (
        figures["lost"]
        or figures["answered twice"]
        or figures["out of order (cases)"]
        or figures["tracker turns lost"]
        or figures["tracker turns doubled"]
        or not settled
    )
    if not args.keep_logs and not failed:
        for path in sorted(logs.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        logs.rmdir()
    else:
        print(f"\nlogs: {logs}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
