"""`zes flows …`: persist the stream's flow statistics and export them as open data."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import start_http_server

from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.settings import load_case_settings
from enforcement.flows.opendata import to_csv
from enforcement.flows.query import FlowQueryError, open_data, resolve
from enforcement.flows.settings import load_flow_settings
from enforcement.flows.store import ApplyCounts
from enforcement.settings import ConfigError, load_areas, load_law, load_settings

flows_app = typer.Typer(
    help="Logistics-flow statistics: persist them from the stream, export open data.",
    no_args_is_help=True,
)


def _database() -> str:
    settings, cases = load_settings(), load_case_settings()
    url = cases.url(settings.work_dir)
    try:
        migrate(url)
    except Exception as exc:  # an unreachable or unwritable database is a user problem
        raise ConfigError(f"case database: {exc}") from None
    return url


@flows_app.command("sink")
def sink_command(
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without records.")
    ] = None,
) -> None:
    """Consume the stream's flow batches into the case database, exactly once (runs until
    stopped)."""
    from enforcement.flows.sink import FlowSink, SinkMetrics

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings, cases = load_flow_settings(), load_case_settings()
    url = _database()
    metrics = SinkMetrics()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.metrics_host, registry=metrics.registry)
    sink = FlowSink(
        session_factory(make_engine(url)), settings, settings.broker or cases.broker, metrics
    )
    seen, quiet_since = -1, time.monotonic()

    def idle(totals: ApplyCounts) -> bool:
        nonlocal seen, quiet_since
        if idle_exit is None:
            return False
        done = totals.batches + totals.duplicate_batches
        if done != seen:
            seen, quiet_since = done, time.monotonic()
        return time.monotonic() - quiet_since > idle_exit

    print(f"flows sink: {settings.topic} → case database")
    totals = sink.run(until=idle)
    print(
        f"flows sink: {totals.batches} batches, {totals.duplicate_batches} duplicates, "
        f"{totals.passages} passages ({totals.decided_entries} entries), "
        f"{totals.skipped_entries} entries already persisted"
    )


def _day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


@flows_app.command("export")
def export_command(
    zone: Annotated[str, typer.Option(help="Zone or area id (or name).")],
    from_: Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option(help="Last local day (inclusive), YYYY-MM-DD.")],
    granularity: Annotated[str, typer.Option(help="day, week, month or year.")] = "month",
    output_format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="File to write; default stdout.")] = None,
) -> None:
    """Open data: the flow tables of a zone or area with small cells suppressed."""
    if output_format not in ("csv", "json"):
        raise ConfigError(f"--format must be csv or json, not {output_format!r}")
    core, settings = load_settings(), load_flow_settings()
    _, zones = load_law(core)
    try:
        scope = resolve(zone, zones, load_areas(core))
        engine = make_engine(_database())
        try:
            with session_factory(engine)() as session:
                rows = open_data(
                    session, scope, _day(from_, "--from"), _day(to, "--to"), granularity,
                    settings.min_cell,
                )  # fmt: skip
        finally:
            engine.dispose()
    except FlowQueryError as exc:
        raise ConfigError(str(exc)) from None
    text = (
        to_csv(rows)
        if output_format == "csv"
        else json.dumps({"min_cell": settings.min_cell, "rows": [r.as_json() for r in rows]}) + "\n"
    )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"{len(rows)} rows → {output}", file=sys.stderr)


@flows_app.command("purge")
def purge_command() -> None:
    """Remove flow rows past ZES_FLOWS_RETENTION_YEARS (the sink also does it hourly)."""
    from enforcement.flows.sink import purge_old

    settings = load_flow_settings()
    engine = make_engine(_database())
    try:
        removed = purge_old(session_factory(engine), settings, dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    print(f"flows: {removed} rows past {settings.retention_years} years removed")
