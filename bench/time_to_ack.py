"""Time to acknowledge: the Firstline service against stock Rasa on the same model file.

Starts Firstline (`firstline run`), stock Rasa (`rasa run --enable-api`) and the stock action
server (`rasa run actions`) on free loopback ports, then measures:

- time to acknowledge (request sent -> response with the replies received) for Firstline's
  `POST /api/web/messages` at an open-loop offered load, alternating with the floor, Rasa's
  `POST /model/parse` alone, in the same seconds: the ratio of their medians is the paired figure;
- the floor again in a phase of its own, and both paths' time to acknowledge at the open-loop
  load (Firstline and Rasa's `POST /webhooks/rest/webhook`), each in a phase of its own;
- throughput of both paths in a closed loop with a fixed number of workers.

One JSON document goes to standard output, progress to standard error. Every subprocess is
killed at the end, whatever happened.

    python bench/time_to_ack.py --rate 20 --duration 30 --concurrency 16 --json-out ack.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx

from bot.model_store import find_model

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
logger = logging.getLogger("bench.time_to_ack")
HEALTH = {"firstline": "/healthz", "actions": "/health", "rasa": "/status"}

# (kind, public, text): the mix is cycled in this order, so both paths see the same messages.
MIX: tuple[tuple[str, bool, str], ...] = (
    ("complaint", True, "@KestrelHelp order #{n} was due on friday and still nothing. where is it??"),
    ("question", False, "what are your opening hours on saturday?"),
    ("complaint", False, "you charged my card twice for order #{n}, i want a refund"),
    ("praise", True, "just wanted to say your support team is brilliant, thanks!"),
    ("complaint", True, "the app has been down all morning, cant log in at all 😡"),
    ("greet", False, "hi there"),
    ("complaint", False, "my headphones stopped charging after a week, really disappointed"),
    ("question", True, "do you deliver to ireland and how long does it take?"),
)

Build = Callable[[int, bool, str], dict[str, Any]]
Check = Callable[[Any], str | None]


class BenchError(Exception):
    """Something the benchmark cannot go on without (a service did not start, a model is missing)."""


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    build: Build
    check: Check
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def payload(self) -> dict[str, Any]:
        i = next(self.counter)
        _, public, text = MIX[i % len(MIX)]
        return self.build(i, public, text.format(n=4_800_000 + i))


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ok = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(ok[min(len(ok) - 1, int(p / 100 * len(ok)))] * 1000, 1) if ok else None

        return {
            "requests": len(ok) + sum(self.problems.values()),
            "ok": len(ok),
            "errors": sum(n for k, n in self.problems.items() if k != "timeout"),
            "timeouts": self.problems["timeout"],
            "problems": dict(self.problems),
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "max_ms": round(ok[-1] * 1000, 1) if ok else None,
            "mean_ms": round(sum(ok) / len(ok) * 1000, 1) if ok else None,
            "elapsed_s": round(self.elapsed, 2),
            "ok_per_s": round(len(ok) / self.elapsed, 2) if self.elapsed else None,
            **self.extra,
        }


def _check_firstline(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body_not_object"
    if body.get("status") != "answered":
        return f"status_{body.get('status')}"
    return None if body.get("replies") else "no_reply"


def _check_rest(body: Any) -> str | None:
    return None if isinstance(body, list) and body else "no_reply"


def _check_parse(body: Any) -> str | None:
    return None if isinstance(body, dict) and body.get("intent") else "no_intent"


async def send(
    client: httpx.AsyncClient, target: Target, samples: Samples, sent: float | None = None
) -> None:
    """One request; `sent` is when it was due (open loop), so a late client is charged too."""
    start = time.perf_counter() if sent is None else sent
    try:
        response = await client.post(target.url, json=target.payload())
        problem = f"http_{response.status_code}" if response.status_code != 200 else None
        problem = problem or target.check(response.json())
    except httpx.TimeoutException:
        problem = "timeout"
    except (httpx.HTTPError, ValueError) as exc:
        problem = type(exc).__name__
    if problem:
        samples.problems[problem] += 1
    else:
        samples.latencies.append(time.perf_counter() - start)


async def closed_loop(client: httpx.AsyncClient, target: Target, workers: int, duration: float) -> Samples:
    samples = Samples(extra={"workers": workers})
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await send(client, target, samples)

    await asyncio.gather(*(worker() for _ in range(workers)))
    samples.elapsed = time.perf_counter() - started
    return samples


async def open_loop(client: httpx.AsyncClient, target: Target, rate: float, duration: float) -> Samples:
    """Fires `rate` requests a second on schedule, whether or not earlier ones have finished."""
    samples = Samples(extra={"offered_per_s": rate})
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    slip = 0.0
    for i in range(max(1, int(rate * duration))):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        slip = max(slip, time.perf_counter() - due)
        tasks.append(asyncio.create_task(send(client, target, samples, sent=due)))
    await asyncio.gather(*tasks)
    samples.elapsed = time.perf_counter() - started
    samples.extra["max_schedule_slip_ms"] = round(slip * 1000, 1)
    return samples


async def alternating(
    client: httpx.AsyncClient, target: Target, floor: Target, rate: float, duration: float
) -> tuple[Samples, Samples]:
    """`target` on an open-loop schedule of `rate` a second and, half-way between two of its
    requests, one request to `floor`, sent once the previous one has finished.

    Both are measured in the same seconds, so whatever else the machine is doing weighs on both
    alike, and neither ever shares the machine with the other: the floor is still "parse alone".
    """
    measured = Samples(extra={"offered_per_s": rate})
    floor_samples = Samples(extra={"workers": 1})
    started = time.perf_counter()
    slip = 0.0
    for i in range(max(1, int(rate * duration))):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        slip = max(slip, time.perf_counter() - due)
        await send(client, target, measured, sent=due)
        await asyncio.sleep(max(0.0, due + 0.5 / rate - time.perf_counter()))
        await send(client, floor, floor_samples)
    measured.elapsed = floor_samples.elapsed = time.perf_counter() - started
    measured.extra["max_schedule_slip_ms"] = round(slip * 1000, 1)
    return measured, floor_samples


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if self.popen.poll() is not None:
                return
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(wait)
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Proc:
    log = logs / f"{name}.log"
    logger.info("starting %s: %s", name, " ".join(argv))
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(popen, log)


def wait_ready(procs: dict[str, Proc], urls: dict[str, str], timeout: float) -> None:
    """Polls each service's health URL until it answers 200, its process dies, or time is up."""
    pending = {name: (proc, urls[name] + HEALTH[name]) for name, proc in procs.items()}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for name, (proc, url) in list(pending.items()):
                if proc.popen.poll() is not None:
                    raise BenchError(
                        f"{name} exited with {proc.popen.returncode}; last output:\n{proc.tail()}"
                    )
                try:
                    if client.get(url).status_code == 200:
                        logger.info("%s is ready (%s)", name, url)
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}:\n{p.tail()}" for n, (p, _) in pending.items())
                raise BenchError(f"not ready after {timeout:.0f} s: {', '.join(pending)}\n{tails}")
            time.sleep(0.5)


def snapshot_project(target: Path) -> Path:
    """Copies what shapes the model, so both servers get the same one even if data/ changes meanwhile."""
    target.mkdir()
    for name in ("config.yml", "domain.yml", "requirements.lock"):
        shutil.copy2(ROOT / name, target / name)
    for name in ("data", "nlu"):
        shutil.copytree(ROOT / name, target / name)
    return target


def ensure_model(project: Path, model_dir: Path, env: dict[str, str]) -> Path:
    logger.info("making sure a model for the current data is in %s", model_dir)
    subprocess.run([str(BIN / "firstline"), "train"], cwd=ROOT, env=env, check=True, stdout=sys.stderr)
    model = find_model(project, model_dir)
    if model is None:
        raise BenchError(f"`firstline train` left no model for the current data in {model_dir}")
    return model


def start_services(
    args: argparse.Namespace, model: Path, work: Path, env: dict[str, str], procs: dict[str, Proc]
) -> dict[str, str]:
    """Starts the three services into `procs` (so the caller can stop what did start); returns URLs."""
    fl_port, rasa_port, actions_port = free_port(), free_port(), free_port()
    fl_env = {
        **env,
        "FIRSTLINE_DATA_DIR": str(work / "firstline"),
        "FIRSTLINE_DATABASE_URL": "",
        "FIRSTLINE_ACTION_SERVER_URL": "",
        "FIRSTLINE_REDIS_URL": "",
        "FIRSTLINE_TRACKER_STORE_URL": "memory",  # stock Rasa's default, so like is compared with like
        "FIRSTLINE_LOG_LEVEL": "WARNING",
        # The load comes from one address by design; the limits are measured elsewhere.
        "FIRSTLINE_RATE_LIMIT_WEB_PER_ADDRESS": "0",
        "FIRSTLINE_RATE_LIMIT_WEB_PER_VISITOR": "0",
        "FIRSTLINE_RATE_LIMIT_REPLIES_PER_ACCOUNT": "0",
    }
    actions_dir = work / "actions"
    actions_env = {
        **env,
        "FIRSTLINE_DATA_DIR": str(actions_dir),
        "FIRSTLINE_DATABASE_URL": f"sqlite:///{actions_dir / 'firstline.db'}",
    }
    subprocess.run(
        [str(BIN / "firstline"), "db", "upgrade"], cwd=ROOT, env=actions_env, check=True, stdout=sys.stderr
    )
    endpoints_file = work / "endpoints.yml"
    endpoints_file.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n')
    rasa = [str(BIN / "rasa"), "run"]
    firstline = shlex.split(args.firstline_command) or [str(BIN / "firstline"), "run"]
    procs["firstline"] = start("firstline", [*firstline, "--port", str(fl_port)], fl_env, work)
    procs["actions"] = start(
        "actions", [*rasa, "actions", "--actions", "actions", "--port", str(actions_port)], actions_env, work
    )
    options = "--enable-api --interface 127.0.0.1 --credentials credentials.yml".split()
    paths = ["--model", str(model), "--endpoints", str(endpoints_file), "--port", str(rasa_port)]
    procs["rasa"] = start("rasa", [*rasa, *options, *paths], env, work)
    return {
        "firstline": f"http://127.0.0.1:{fl_port}",
        "rasa": f"http://127.0.0.1:{rasa_port}",
        "actions": f"http://127.0.0.1:{actions_port}",
    }


async def measure(args: argparse.Namespace, urls: dict[str, str], tag: str) -> dict[str, Any]:
    def web(i: int, public: bool, text: str) -> dict[str, Any]:
        # No `user`: the client keeps no cookies, so every message is a new web visitor.
        return {"text": text, "public": public, "message_id": uuid.uuid4().hex}

    rasa, firstline = urls["rasa"], urls["firstline"]
    targets = {
        "parse": Target("parse", f"{rasa}/model/parse", lambda i, p, text: {"text": text}, _check_parse),
        "firstline": Target("firstline", f"{firstline}/api/web/messages", web, _check_firstline),
        "rest": Target(
            "rest",
            f"{rasa}/webhooks/rest/webhook",
            lambda i, p, text: {"sender": f"{tag}-rest-{i}", "message": text},
            _check_rest,
        ),
    }
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    results: dict[str, Any] = {}
    no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits, cookies=no_cookies) as client:
        for target in targets.values():
            logger.info("warming up %s with %d requests", target.name, args.warmup)
            warm = Samples()
            for _ in range(args.warmup):
                await send(client, target, warm)
            if warm.problems:
                logger.warning("warm-up of %s had problems: %s", target.name, dict(warm.problems))
        logger.info(
            "firstline at %.1f msgs/s alternating with the parse floor for %.0f s", args.rate, args.duration
        )
        measured, floor = await alternating(
            client, targets["firstline"], targets["parse"], args.rate, args.duration
        )
        results["firstline_alternating"], results["parse_alternating"] = measured.summary(), floor.summary()
        logger.info("parse floor: one request at a time for %.0f s", args.duration)
        results["parse"] = (await closed_loop(client, targets["parse"], 1, args.duration)).summary()
        for name in ("firstline", "rest"):
            logger.info("%s: open loop, %.1f msgs/s for %.0f s", name, args.rate, args.duration)
            results[f"{name}_open_loop"] = (
                await open_loop(client, targets[name], args.rate, args.duration)
            ).summary()
        for name in ("firstline", "rest"):
            logger.info("%s: closed loop, %d workers for %.0f s", name, args.concurrency, args.duration)
            results[f"{name}_closed_loop"] = (
                await closed_loop(client, targets[name], args.concurrency, args.duration)
            ).summary()
    return results


def ratio(numerator: float | None, denominator: float | None, target: float, at_most: bool) -> dict[str, Any]:
    value = round(numerator / denominator, 2) if numerator and denominator else None
    met = value is not None and (value <= target if at_most else value >= target)
    return {"value": value, "target": f"{'<=' if at_most else '>='} {target}", "met": met}


def run(args: argparse.Namespace) -> dict[str, Any]:
    model_dir = args.model_dir.expanduser().resolve()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"}
    env["FIRSTLINE_MODEL_DIR"] = str(model_dir)
    with tempfile.TemporaryDirectory(prefix="firstline-bench-") as tmp:
        env["FIRSTLINE_PROJECT_DIR"] = str(snapshot_project(Path(tmp, "project")))
        model = ensure_model(Path(tmp, "project"), model_dir, env)
        load_before = os.getloadavg()
        procs: dict[str, Proc] = {}
        try:
            urls = start_services(args, model, Path(tmp), env, procs)
            wait_ready(procs, urls, args.startup_timeout)
            results = asyncio.run(measure(args, urls, uuid.uuid4().hex[:8]))
        finally:
            for proc in procs.values():
                proc.stop()
    parse_p50, fl_p50 = results["parse_alternating"]["p50_ms"], results["firstline_alternating"]["p50_ms"]
    fl_tput, rest_tput = results["firstline_closed_loop"]["ok_per_s"], results["rest_closed_loop"]["ok_per_s"]
    return {
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "model": str(model),
        "settings": {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "timeout_s": args.timeout,
            "mix": [f"{kind} ({'public' if public else 'private'})" for kind, public, _ in MIX],
            "tracker_store": "memory on both sides (stock Rasa's default)",
            "firstline_command": args.firstline_command or "firstline run",
            "firstline_store": "SQLite (default) in a temporary directory",
            "firstline_actions": "in-process (rasa-sdk executor)",
            "rest_actions": "stock action server over HTTP; the REST channel sends no Firstline "
            "metadata, so action_hand_off stores nothing there",
            "latency": "from the moment a request was due (open loop) or sent (closed loop) "
            "to the response with the replies",
            "floor": "parse_alternating: one /model/parse request half-way between two Firstline "
            "requests, never overlapping one; parse: one at a time in a phase of its own",
        },
        "paths": results,
        "ratios": {
            # Paired: measured alternately in the same seconds (see `alternating`).
            "firstline_p50_over_parse_p50": ratio(fl_p50, parse_p50, 2.0, at_most=True),
            # The same figures from two separate phases, for comparison: they move with whatever
            # the machine did between the phases.
            "separate_phases_firstline_p50_over_parse_p50": ratio(
                results["firstline_open_loop"]["p50_ms"], results["parse"]["p50_ms"], 2.0, at_most=True
            ),
            "firstline_throughput_over_rest_throughput": ratio(fl_tput, rest_tput, 2.0, at_most=False),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="open-loop offered load, messages/s")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per measured phase")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop workers")
    parser.add_argument("--warmup", type=int, default=20, help="requests per endpoint before measuring")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for start-up")
    parser.add_argument("--model-dir", type=Path, default=Path("~/.cache/firstline/models"))
    parser.add_argument("--firstline-command", default="", help="instead of `firstline run` (gets --port P)")
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    args = parser.parse_args()
    if args.rate <= 0 or args.duration <= 0 or args.concurrency < 1:
        parser.error("--rate and --duration must be positive and --concurrency at least 1")
    logging.basicConfig(level=logging.INFO, format="[bench] %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        document = run(args)
    except (BenchError, subprocess.CalledProcessError) as exc:
        logger.error("%s", exc)
        return 1
    text = json.dumps(document, indent=2, ensure_ascii=False)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
