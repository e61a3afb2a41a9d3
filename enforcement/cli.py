"""`zes rules ...`, `zes register ...`, `zes decide` and `zes demo`."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from enforcement import plates
from enforcement.demo.fleet import write_synthetic_rdw
from enforcement.description import describe_vehicle
from enforcement.explain import explain
from enforcement.law import PassageFacts, decide, decide_plates
from enforcement.model import LOCAL_TZ, Decision, LocalTimeError, Outcome, localize
from enforcement.register.exemption_files import read_exemptions
from enforcement.register.protocol import RegisterUnavailable
from enforcement.register.rdw import read_vehicles
from enforcement.register.redis import RedisRegister, register_from
from enforcement.register.report import LoadReport
from enforcement.scenarios import run_scenarios
from enforcement.settings import ConfigError, Settings, load_law, load_settings

console = Console(stderr=True)
out = Console()

rules_app = typer.Typer(help="The ZE-zone law: scenario checks and zones.", no_args_is_help=True)
register_app = typer.Typer(
    help="The vehicle and exemption register (RDW open data, Redis).", no_args_is_help=True
)


def _register(settings: Settings) -> RedisRegister:
    return register_from(settings)


def _input_file(path: Path, what: str) -> Path:
    """`path` when it is a readable file; a one-line error that says what is wrong."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory, not a file")
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path


# -- zes rules -------------------------------------------------------------------------------
@rules_app.command("check")
def rules_check(
    cases: Annotated[Path, typer.Argument(help="A CSV in the format of ze-scenarios-dev.csv.")],
) -> None:
    """Decide every case of a scenario file; print failures and `N passed, M failed`."""
    _input_file(cases, "case file")
    _, catalog = load_law(load_settings())
    results = run_scenarios(cases, catalog)
    failed = [r for r in results if not r.passed]
    for result in failed:
        print(result.line())
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


@rules_app.command("zones")
def rules_zones() -> None:
    """List the zones the law knows, with start and warning period."""
    _, catalog = load_law(load_settings())
    for zone in catalog:
        start = zone.start.isoformat() if zone.start else "no zone"
        warning = zone.last_warning_day.isoformat() if zone.last_warning_day else "-"
        print(f"{zone.id:22} {zone.name:22} start={start:10} warning_until={warning}")


# -- zes register ----------------------------------------------------------------------------
def _progress_report(label: str) -> tuple[Progress, LoadReport]:
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(label, total=None)
    report = LoadReport(progress=lambda n: progress.update(task, completed=n))
    return progress, report


def _print_report(what: str, report: LoadReport, seconds: float) -> None:
    rate = report.loaded / seconds if seconds > 0 else 0.0
    console.print(f"{what}: {report.summary()} in {seconds:.1f} s ({rate:,.0f}/s)")
    for problem in report.problems[:20]:
        console.print(f"  skipped {problem}")
    if report.skipped > 20:
        console.print(f"  ... and {report.skipped - 20} more skipped rows")


@register_app.command("synth")
def register_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the files.")] = Path("var/rdw"),
    count: Annotated[int, typer.Option(min=1, help="Number of vehicles.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv (bulk export) or json (SODA).")] = (
        "csv"
    ),
) -> None:
    """Write realistic synthetic RDW open-data files (real column names)."""
    if fmt not in ("csv", "json"):
        raise ConfigError("--format must be csv or json")
    files = write_synthetic_rdw(out_dir, count, seed=seed, fmt=fmt)  # type: ignore[arg-type]
    for option, path in files.loader_kwargs().items():
        if path is not None:
            print(f"--{option.replace('_', '-')} {path}")


@register_app.command("load")
def register_load(
    vehicles: Annotated[Path, typer.Option(help="Gekentekende_voertuigen (m9d7-ebf2).")],
    fuels: Annotated[Path | None, typer.Option(help="..._brandstof (8ys7-d773).")] = None,
    bodies: Annotated[Path | None, typer.Option(help="..._carrosserie (vezc-m2t6).")] = None,
    body_codes: Annotated[
        Path | None, typer.Option(help="..._carrosserie_specificatie (jhie-znh9).")
    ] = None,
    particularities: Annotated[
        Path | None, typer.Option(help="..._bijzonderheden (7ug8-2dtt).")
    ] = None,
    axles: Annotated[Path | None, typer.Option(help="..._assen (3huj-srit).")] = None,
) -> None:
    """Load RDW files into the register; readers see the old register until it is complete."""
    settings = load_settings()
    register = _register(settings)
    for path in (vehicles, fuels, bodies, body_codes, particularities, axles):
        if path is not None:
            _input_file(path, "RDW file")
    progress, report = _progress_report("loading vehicles")
    started = time.perf_counter()
    with progress:
        count = register.replace_vehicles(
            read_vehicles(
                vehicles,
                fuels,
                bodies=bodies,
                body_codes=body_codes,
                particularities=particularities,
                axles=axles,
                report=report,
            )
        )
    _print_report(f"vehicles loaded: {count:,}", report, time.perf_counter() - started)


@register_app.command("load-exemptions")
def register_load_exemptions(
    path: Annotated[Path, typer.Argument(help="Exemption file (CSV, JSON or NDJSON).")],
    add: Annotated[
        bool, typer.Option(help="Add to the current exemptions instead of replacing them.")
    ] = False,
) -> None:
    """Import ontheffingen (national desk, RVO and municipal) into the register."""
    _input_file(path, "exemption file")
    register = _register(load_settings())
    progress, report = _progress_report("loading exemptions")
    started = time.perf_counter()
    with progress:
        if add:
            count = register.add_exemptions(read_exemptions(path, report=report))
        else:
            count = register.replace_exemptions(read_exemptions(path, report=report))
    _print_report(f"exemptions loaded: {count:,}", report, time.perf_counter() - started)


@register_app.command("migrate")
def register_migrate() -> None:
    """Convert a register stored by an earlier release (layout 1) to this release's layout,
    in place: vehicles, and exemptions including grants added at a desk. Stream workers
    refuse layout 1 until this has run; running it again changes nothing."""
    moved = _register(load_settings()).migrate()
    if not moved:
        print("the register is already in the current layout: nothing to migrate")
    for kind, count in moved.items():
        print(f"{kind} migrated: {count:,}")


@register_app.command("stats")
def register_stats() -> None:
    """Print the register's size and memory as JSON."""
    print(json.dumps(_register(load_settings()).stats(), default=str))


# -- zes decide ------------------------------------------------------------------------------
def _parse_at(text: str | None) -> datetime:
    """`--at`: an ISO date-time; without an offset it is Dutch wall-clock time (R39), which
    must exist and be unambiguous (the clock-change hours in March and October)."""
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r} is not an ISO date or date-time") from None
    try:
        at = localize(at)
        # Both conversions the law makes; year 1 and 9999 with an offset have no UTC date.
        at.astimezone(UTC)
        at.astimezone(LOCAL_TZ)
    except LocalTimeError as exc:
        raise ConfigError(f"--at {text!r}: {exc}") from None
    except OverflowError:
        raise ConfigError(f"--at {text!r} is outside the calendar the law can evaluate") from None
    return at


def decide_command(
    plate: Annotated[str, typer.Argument(help="Licence plate, any spelling (AB-12-CD, ab12cd).")],
    zone: Annotated[str, typer.Option(help="Zone name or id, e.g. Utrecht or den-haag.")],
    at: Annotated[
        str | None, typer.Option(help="Passage time, ISO 8601; default now (Dutch time).")
    ] = None,
    lang: Annotated[str, typer.Option(help="nl or en.")] = "nl",
) -> None:
    """Look a plate up in the register and print the decision with its reasons."""
    settings = load_settings()
    _, catalog = load_law(settings)
    found = catalog.get(zone)
    if found is None:
        raise ConfigError(f"unknown zone {zone!r}; `zes rules zones` lists them")
    moment = _parse_at(at)
    normalised = plates.normalise(plate)
    if not normalised:
        raise ConfigError(f"{plate!r} contains no plate characters")
    view = _register(settings).lookup([normalised])
    vehicle = view.vehicles.get(normalised)
    decision = decide(
        moment,
        found,
        vehicle,
        view.exemptions.get(normalised, ()),
        facts=PassageFacts(plate=normalised),
    )
    print(plates.format_plate(normalised))
    for line in explain(decision, found, lang).lines():
        print(line)
    if vehicle is not None:
        # What the photo should show: make, model, colour, body (issue 21).
        print(describe_vehicle(vehicle, lang))


# -- zes demo: the main job until `zes up` exists ---------------------------------------------
def demo_command(
    vehicles: Annotated[int, typer.Option(min=100, help="Synthetic vehicles to load.")] = 50_000,
    passages: Annotated[int, typer.Option(min=1, help="Passages to decide.")] = 20_000,
    zone: Annotated[str, typer.Option(help="Zone of the simulated camera.")] = "Utrecht",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Load a synthetic register into Redis and decide a day of simulated passages."""
    settings = load_settings()
    _, catalog = load_law(settings)
    found = catalog.get(zone)
    if found is None:
        raise ConfigError(f"unknown zone {zone!r}; `zes rules zones` lists them")
    # Its own key prefix: a demo must never replace a real register in the same Redis.
    settings = settings.model_copy(update={"register_prefix": f"{settings.register_prefix}-demo"})
    register = _register(settings)
    work = settings.work_dir / "demo"
    console.print(f"[bold]1/3[/] writing {vehicles:,} synthetic RDW vehicles to {work}")
    files = write_synthetic_rdw(work, vehicles, seed=seed)
    progress, report = _progress_report("loading register")
    started = time.perf_counter()
    with progress:
        loaded = register.replace_vehicles(files.read(report))
    _print_report(
        f"[bold]2/3[/] register loaded: {loaded:,}", report, time.perf_counter() - started
    )

    rng = random.Random(seed)
    plates_seen = [v.plate for v in read_vehicles(files.vehicles, None, report=LoadReport())]
    start = datetime.now(UTC).replace(microsecond=0)
    counts: dict[str, int] = {o.value: 0 for o in Outcome}
    examples: dict[str, tuple[str, Decision]] = {}
    started = time.perf_counter()
    batch = 1000
    for offset in range(0, passages, batch):
        size = min(batch, passages - offset)
        # 3% of passages are plates the register does not know (misreads, new plates).
        sample = [
            rng.choice(plates_seen) if rng.random() > 0.03 else f"ZZ{rng.randrange(9999):04d}"
            for _ in range(size)
        ]
        moment = start + timedelta(seconds=offset)
        view = register.lookup(sample)
        decisions = decide_plates(
            moment, found, sample, view.vehicles, view.exemptions, read_confidence=0.97
        )
        for plate, decision in zip(sample, decisions, strict=True):
            counts[decision.outcome.value] += 1
            examples.setdefault(decision.outcome.value, (plate, decision))
    seconds = time.perf_counter() - started
    console.print(
        f"[bold]3/3[/] decided {passages:,} passages in {seconds:.2f} s "
        f"({passages / seconds:,.0f}/s, batched register lookups + the law)"
    )
    for plate, decision in examples.values():  # synthetic plates: nothing personal here
        console.print(f"[dim]{plates.format_plate(plate)}[/]")
        for line in explain(decision, found, "nl").lines():
            console.print(f"  {line}", highlight=False)
    console.print(
        f"look a plate up: ZES_REGISTER_PREFIX={settings.register_prefix} "
        f"zes decide PLATE --zone {found.name}"
    )
    print(json.dumps({"zone": found.id, "passages": passages, "outcomes": counts}))


__all__ = ["RegisterUnavailable", "decide_command", "demo_command", "register_app", "rules_app"]
