"""Operations on one store: check, stats, health, purge-expired, schema."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Console

from auth_store.adapter import Adapter
from auth_store.capabilities import ReportsResources, SupportsSchema
from auth_store.checks import check_store
from auth_store.errors import AuthStoreError, NoStoreError
from auth_store.migration import without_migrations
from auth_store.problems import CheckReport

from ._common import State, counts_table, describe, emit, fail, pass_state


def render_check(console: Console, report: CheckReport) -> None:
    """Print a check report."""
    rows = [[c, n, report.expired.get(c, "")] for c, n in report.counts.items()]
    console.print(
        counts_table(
            f"Check of the {report.backend} store", ["collection", "records", "expired"], rows
        )
    )
    for action in report.repaired:
        console.print(f"repaired: {action}", markup=False)
    if report.ok:
        console.print("[bold green]no problems found[/]")
        return
    console.print(f"[bold red]{len(report.problems)} problem(s)[/]")
    for problem in report.problems:
        console.print(f"  {problem}", markup=False)


@click.command("check")
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what can be fixed: the backend's own repair, orphans, expired rows.",
)
@pass_state
def check_command(state: State, repair: bool) -> None:
    """Check the store for orphans, duplicate keys, expired rows and backend damage.

    Orphans are accounts, sessions, authenticators and credentials whose
    user is gone; the file store also reports index lines that disagree with
    records, stray temporary files and unreadable records. Expired sessions
    and tokens are counted but are not a failure. With --repair, orphans and
    expired rows are removed and the backend repairs itself; duplicates are
    left for a person to resolve. Exit 1 when problems remain.
    """
    store = state.open()
    report = check_store(store, repair=repair)
    emit(state, report.to_dict(), lambda console: render_check(console, report))
    if not report.ok:
        fail(f"{len(report.problems)} problem(s) found")


def _schema_version(store: Adapter, health: dict[str, Any]) -> Any:
    if "schema_version" in health:
        return health["schema_version"]
    return store.schema_version() if isinstance(store, SupportsSchema) else None


@click.command("stats")
@pass_state
def stats_command(state: State) -> None:
    """Show the number of records per collection and the schema version.

    A file store also reports what it costs this process: the time it took to
    open, the memory it added once its indices were read, and its index sizes.
    """
    store = state.open()
    counts = store.counts()
    health = store.health()
    data: dict[str, Any] = {
        "backend": store.backend,
        "counts": counts,
        "total": sum(counts.values()),
        "schema_version": _schema_version(store, health),
    }
    if isinstance(store, ReportsResources):
        data["resources"] = store.resources()

    def render(console: Console) -> None:
        rows = [*counts.items(), ("total", data["total"])]
        console.print(counts_table(f"{store.backend} store", ["collection", "records"], rows))
        if data["schema_version"] is not None:
            console.print(f"schema version: {data['schema_version']}")
        for key, value in data.get("resources", {}).items():
            console.print(f"{key.replace('_', ' ')}: {value}", markup=False)

    emit(state, data, render)


@click.command("health")
@pass_state
def health_command(state: State) -> None:
    """Check that the store is reachable; show its health report and round-trip time.

    Exit 1 when the store cannot be reached, there is no store at the URL
    (none is created), or it reports itself unhealthy.
    """
    started = time.perf_counter()
    try:
        store = state.open()
        health = store.health()
    except AuthStoreError as exc:
        if state.json:
            data = {"reachable": False, "ok": False, "error": describe(exc)}
            emit(state, data, lambda console: None)  # JSON on stdout; the line on stderr
        fail(describe(exc))
    elapsed = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    store.health()
    round_trip = (time.perf_counter() - started) * 1000
    data = {
        **health,
        "backend": health.get("backend", store.backend),
        "reachable": True,
        "ok": bool(health.get("ok")),
        "connect_ms": round(elapsed, 3),
        # The backend's own measure (one query, no Python overhead) when it gives one.
        "round_trip_ms": health.get("round_trip_ms", round(round_trip, 3)),
    }

    def render(console: Console) -> None:
        status = "[bold green]ok[/]" if data["ok"] else "[bold red]NOT OK[/]"
        console.print(f"{data['backend']}: {status}, round trip {data['round_trip_ms']:.2f} ms")
        for key, value in sorted(health.items()):
            if key not in {"backend", "ok"}:
                console.print(f"  {key}: {value}", markup=False)

    emit(state, data, render)
    if not data["ok"]:
        fail("the store reports itself unhealthy")


@click.command("purge-expired")
@pass_state
def purge_expired_command(state: State) -> None:
    """Delete sessions and verification tokens that have expired."""
    store = state.open()
    purged = store.purge_expired()
    emit(
        state,
        {"purged": purged},
        lambda console: console.print(
            counts_table(
                "Purged expired records",
                ["collection", "deleted"],
                purged.items(),
            )
        ),
    )


@click.group("schema")
def schema_group() -> None:
    """Show or apply the versioned schema migrations of a SQL store.

    A backend takes part by offering schema_status(), schema_version() and
    upgrade_schema() (auth_store.capabilities.SupportsSchema); stores without
    a versioned schema (memory, file) say so and exit 0.
    """


def _no_schema(state: State, store: Adapter) -> None:
    data = {"backend": store.backend, "versioned": False}
    emit(
        state,
        data,
        lambda console: console.print(f"the {store.backend} store has no versioned schema"),
    )


def _status(store: SupportsSchema, backend: str) -> dict[str, Any]:
    rows = store.schema_status()
    return {
        "backend": backend,
        "versioned": True,
        "current": max((r.version for r in rows if r.applied_at is not None), default=0),
        "latest": max((r.version for r in rows), default=0),
        "pending": [f"{r.version:04d}_{r.name}" for r in rows if r.applied_at is None],
        "migrations": [
            {
                "version": r.version,
                "name": r.name,
                "applied_at": r.applied_at.isoformat() if r.applied_at else None,
            }
            for r in rows
        ],
    }


@schema_group.command("status")
@pass_state
def schema_status_command(state: State) -> None:
    """Show the current schema version and the migrations not yet applied.

    The store is opened without applying migrations, so this never changes it.
    """
    store = state.open(without_migrations(state.resolved_url))
    if not isinstance(store, SupportsSchema):
        _no_schema(state, store)
        return
    data = _status(store, store.backend)

    def render(console: Console) -> None:
        console.print(f"schema version {data['current']} (latest {data['latest']})")
        for migration in data["migrations"]:
            when = migration["applied_at"] or "pending"
            console.print(f"  {migration['version']:04d}_{migration['name']}: {when}", markup=False)
        console.print("pending: " + ", ".join(data["pending"]) if data["pending"] else "up to date")

    emit(state, data, render)


@schema_group.command("upgrade")
@pass_state
def schema_upgrade_command(state: State) -> None:
    """Apply every pending schema migration (in one transaction).

    With no store at the URL, this creates one (and says so): the way to
    start a new store from the command line.
    """
    url = without_migrations(state.resolved_url)
    try:
        store = state.open(url)
        created = False
    except NoStoreError:
        store = state.open(url, create=True)
        created = True
    if created:
        note = f"no store was at the URL: created a new {store.backend} store"
        click.echo(f"note: {note}", err=True)
    if not isinstance(store, SupportsSchema):
        _no_schema(state, store)
        return
    applied = store.upgrade_schema()
    data = {**_status(store, store.backend), "applied": applied, "created": created}

    def render(console: Console) -> None:
        if not applied:
            console.print(f"already up to date (schema version {data['current']})")
        for version in applied:
            console.print(f"applied migration {version:04d}")

    emit(state, data, render)


COMMANDS = [
    check_command,
    stats_command,
    health_command,
    purge_expired_command,
    schema_group,
]
