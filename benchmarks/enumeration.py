"""Known versus unknown addresses: does a request take as long for both?

``python -m benchmarks.enumeration [--tries N]`` times, for an address that has
an account and one that has none:

- asking for a password reset,
- asking for a magic link, with sign-up by link off,
- signing up with an address that is taken (versus a new one),
- signing in with a wrong password (for reference: its work was already equal),

at the flow (``AuthFlow`` on SQLite, the demo's store) and over HTTP, in-process:
the FastAPI example through Starlette's ASGI test client (its JSON API) and the
Flask example through Werkzeug's WSGI test client (its form pages).

Mail goes to a stand-in for an SMTP relay that takes 5 ms per message,
behind the ``BackgroundMailer`` that ``AuthFlow`` uses. Side by side, the
**baseline** is the same app with mail composed and sent inside the request
(what happened before the background sender): it shows the leak the
benchmark is there to catch.

Tries come in blocks of four, known-unknown-unknown-known or the other way
round (chosen at random): each kind follows each kind equally often (what a
try leaves behind, such as a sent message, counts against neither), and
each block holds two adjacent known/unknown pairs, so slow drift in the
machine's load cancels out of their differences. Between tries (untimed)
the mail worker is let finish, so each request is timed on its own. The
report gives both medians and their spread (interquartile range), the
median of the paired differences (known minus unknown) and its 95%
bootstrap confidence interval; the difference is *within noise* when that
interval contains 0.
Results go to ``benchmarks/results/enumeration.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import auth_store
from auth_store.flow import AuthFlow
from auth_store.mail import BackgroundMailer, Compose, Message
from auth_store.models import User
from auth_store.signing import Signer

from . import machine

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "enumeration.md"
SMTP_SECONDS = 0.005
PASSWORD = "correct horse battery"
KNOWN = "k0000@example.com"  # the same length as every unknown address


class Relay:
    """Stands in for an SMTP relay: each message takes ``SMTP_SECONDS`` to hand over."""

    def send(self, message: Message) -> None:
        time.sleep(SMTP_SECONDS)


class InlineRelay(Relay):
    """The baseline: composes and sends inside the request, as before the background sender."""

    def defer(self, compose: Compose) -> None:
        message = compose()
        if message is not None:
            self.send(message)


@dataclass(frozen=True)
class Comparison:
    level: str
    flow: str
    mail: str
    known: list[float]
    unknown: list[float]
    pairs: list[float]  # known minus unknown, for adjacent tries

    @property
    def difference(self) -> float:
        return statistics.median(self.pairs)

    def interval(self, rounds: int = 2000, seed: int = 7) -> tuple[float, float]:
        """95% bootstrap confidence interval of the median paired difference."""
        rng = random.Random(seed)
        medians = sorted(
            statistics.median(rng.choices(self.pairs, k=len(self.pairs))) for _ in range(rounds)
        )
        return medians[int(0.025 * rounds)], medians[int(0.975 * rounds) - 1]

    @property
    def within_noise(self) -> bool:
        low, high = self.interval()
        return low <= 0 <= high


def _iqr(samples: list[float]) -> float:
    quartiles = statistics.quantiles(samples, n=4)
    return quartiles[2] - quartiles[0]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


# -- the systems under test ------------------------------------------------------------


class Subject:
    """One way to make requests for an address; ``settle`` lets the mail worker finish."""

    def __init__(self, flow: AuthFlow, request: Callable[[str], object]) -> None:
        self.flow = flow
        self.request = request

    def settle(self) -> None:
        mailer = self.flow.mailer
        if isinstance(mailer, BackgroundMailer):
            mailer.flush()
        user = self.flow.adapter.get_user_by_email(KNOWN)
        if user is not None and user.id is not None:  # stay below the attempt limit
            self.flow.limiter.reset(user.id)


def _flow(store: auth_store.Adapter, inline: bool) -> AuthFlow:
    mailer: Any = InlineRelay() if inline else Relay()
    flow = AuthFlow(
        store,
        signer=Signer("benchmark-secret-" + "x" * 32),
        mailer=mailer,
        base_url="https://app.example",
        magic_link_sign_up=False,
    )
    return flow


def _add_known(flow: AuthFlow) -> None:
    user = flow.adapter.create_user(User(email=KNOWN, email_verified=auth_store.clock.now()))
    assert user.id is not None
    flow.passwords.set_password(user.id, PASSWORD)
    flow.passwords.dummy_verify()  # libpass makes its dummy hash on first use


FLOWS = ("reset", "magic link", "sign-up", "sign-in (wrong password)")


def _flow_calls(flow: AuthFlow) -> dict[str, Callable[[str], object]]:
    def sign_in(email: str) -> None:
        with suppress(auth_store.AuthStoreError):
            flow.sign_in_password(email, "not the password")

    return {
        "reset": flow.request_password_reset,
        "magic link": flow.request_magic_link,
        "sign-up": lambda email: flow.sign_up(email, PASSWORD),
        "sign-in (wrong password)": sign_in,
    }


@contextmanager
def _fastapi(store: auth_store.Adapter, work: Path, inline: bool) -> Iterator[dict[str, Subject]]:
    from fastapi.testclient import TestClient

    from examples.fastapi_app import create_app

    mailer: Any = InlineRelay() if inline else BackgroundMailer(Relay())
    app = create_app(store, base_url="http://testserver", data_dir=work, mailer=mailer)
    served = app.state.auth_store.flow  # the async twin the app runs
    served.magic_link_sign_up = False
    # Set up and settle through the sync twin on the same store and mailer.
    flow = AuthFlow(
        store,
        signer=served.signer,
        mailer=served.mailer,
        base_url=served.base_url,
        magic_link_sign_up=False,
    )
    _add_known(flow)
    asyncio.run(served.passwords.dummy_verify())  # the served hasher's dummy hash, made now
    with TestClient(app) as client:

        def post(path: str, **body: str) -> Callable[[str], object]:
            return lambda email: client.post(path, json={"email": email, **body})

        yield {
            "reset": Subject(flow, post("/api/auth/password-reset")),
            "magic link": Subject(flow, post("/api/auth/magic-link")),
            "sign-up": Subject(flow, post("/api/auth/sign-up", password=PASSWORD)),
            "sign-in (wrong password)": Subject(
                flow, post("/api/auth/sign-in", password="not the password")
            ),
        }


@contextmanager
def _flask(store: auth_store.Adapter, work: Path, inline: bool) -> Iterator[dict[str, Subject]]:
    from examples.flask_app import create_app

    mailer: Any = InlineRelay() if inline else BackgroundMailer(Relay())
    app = create_app(store, base_url="http://localhost", data_dir=work, mailer=mailer)
    flow: AuthFlow = app.extensions["auth_store"].flow
    flow.magic_link_sign_up = False
    _add_known(flow)
    client = app.test_client()
    page = client.get("/sign-in").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    token = found.group(1)

    def post(path: str, **form: str) -> Callable[[str], object]:
        return lambda email: client.post(path, data={"email": email, "csrf_token": token, **form})

    yield {
        "reset": Subject(flow, post("/reset-password")),
        "magic link": Subject(flow, post("/magic-link")),
        "sign-up": Subject(flow, post("/sign-up", password=PASSWORD)),
        "sign-in (wrong password)": Subject(flow, post("/sign-in", password="not the password")),
    }


# -- measuring -----------------------------------------------------------------------------


def _compare(
    subject: Subject, tries: int, rng: random.Random
) -> tuple[list[float], list[float], list[float]]:
    """``tries`` timed requests per kind: known times, unknown times, paired differences."""
    fresh = count(1)
    known: list[float] = []
    unknown: list[float] = []
    pairs: list[float] = []

    def timed(is_known: bool) -> float:
        if is_known:
            # Made like the unknown ones, as a new string: a constant would be hot
            # in the CPU's caches and a new string not, a difference of its own.
            email = f"k{0:04d}@example.com"
            assert email == KNOWN
        else:
            email = f"u{next(fresh):04d}@example.com"  # new every time: sign-up makes accounts
        started = time.perf_counter()
        subject.request(email)
        elapsed = time.perf_counter() - started
        subject.settle()
        (known if is_known else unknown).append(elapsed)
        return elapsed

    for _ in range(5):  # warm up both paths
        timed(True)
        timed(False)
    known.clear()
    unknown.clear()
    gc.collect()
    for _ in range((tries + 1) // 2):
        first = rng.random() < 0.5  # KUUK or UKKU
        a, b = timed(first), timed(not first)
        c, d = timed(not first), timed(first)
        pairs += [a - b, d - c] if first else [b - a, c - d]
    return known, unknown, pairs


def run(tries: int, flows: tuple[str, ...], baseline: bool) -> list[Comparison]:
    """Every comparison: each level, each flow, background mail (and the baseline)."""
    rng = random.Random(20261201)
    results: list[Comparison] = []
    modes = [("background", False)] + ([("inline (baseline)", True)] if baseline else [])
    with tempfile.TemporaryDirectory(prefix="auth-store-enum-") as tmp:
        work = Path(tmp)
        for mail, inline in modes:
            for level in ("flow", "HTTP: FastAPI (ASGI)", "HTTP: Flask (WSGI)"):
                name = f"{level}-{mail}".replace(" ", "_").replace(":", "").replace("/", "")
                store = auth_store.connect(f"sqlite:///{work / name}.db")
                try:
                    if level == "flow":
                        flow = _flow(store, inline)
                        _add_known(flow)
                        calls = _flow_calls(flow)
                        subjects = {f: Subject(flow, calls[f]) for f in flows}
                        results += _measure(level, mail, subjects, flows, tries, rng)
                    else:
                        make = _fastapi if "FastAPI" in level else _flask
                        with make(store, work / f"{name}-demo", inline) as subjects:
                            results += _measure(level, mail, subjects, flows, tries, rng)
                finally:
                    store.close()
    return results


def _measure(
    level: str,
    mail: str,
    subjects: dict[str, Subject],
    flows: tuple[str, ...],
    tries: int,
    rng: random.Random,
) -> list[Comparison]:
    found = []
    for flow_name in flows:
        known, unknown, pairs = _compare(subjects[flow_name], tries, rng)
        comparison = Comparison(level, flow_name, mail, known, unknown, pairs)
        found.append(comparison)
        low, high = comparison.interval()
        print(
            f"{level:22} {flow_name:26} {mail:18} known {_ms(statistics.median(known))} ms,"
            f" unknown {_ms(statistics.median(unknown))} ms,"
            f" Δ {_ms(comparison.difference)} ms [{_ms(low)}, {_ms(high)}]"
            f" {'within noise' if comparison.within_noise else 'DIFFERS'}",
            file=sys.stderr,
            flush=True,
        )
    return found


def report(results: list[Comparison], tries: int) -> str:
    """The results page, in Markdown."""
    lines = [
        "# Known versus unknown addresses",
        "",
        "`python -m benchmarks.enumeration`: see its docstring for the method.",
        f"{tries} tries per address per row; times in milliseconds; SMTP stand-in:"
        f" {SMTP_SECONDS * 1000:.0f} ms per message.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in machine.describe().items()),
        "",
        "## Results",
        "",
        "| Level | Flow | Mail | Known median (IQR) | Unknown median (IQR)"
        " | Δ (median paired) | 95% CI of Δ | Verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for c in results:
        low, high = c.interval()
        verdict = "within noise" if c.within_noise else "**differs**"
        lines.append(
            f"| {c.level} | {c.flow} | {c.mail}"
            f" | {_ms(statistics.median(c.known))} ({_ms(_iqr(c.known))})"
            f" | {_ms(statistics.median(c.unknown))} ({_ms(_iqr(c.unknown))})"
            f" | {_ms(c.difference)} | [{_ms(low)}, {_ms(high)}] | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=300, help="tries per address (>= 200)")
    parser.add_argument("--flows", default=",".join(FLOWS), help="comma-separated subset")
    parser.add_argument("--no-baseline", action="store_true", help="skip the inline baseline")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the page")
    args = parser.parse_args(argv)
    flows = tuple(f.strip() for f in args.flows.split(",") if f.strip())
    unknown_flows = set(flows) - set(FLOWS)
    if unknown_flows:
        parser.error(f"unknown flows: {', '.join(sorted(unknown_flows))}")
    results = run(args.tries, flows, baseline=not args.no_baseline)
    page = report(results, args.tries)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(page, encoding="utf-8")
    print(page)
    background = [c for c in results if c.mail == "background" and "sign-in" not in c.flow]
    return 0 if all(c.within_noise for c in background) else 1


if __name__ == "__main__":
    raise SystemExit(main())
