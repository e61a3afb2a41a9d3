"""The `zes up` command: options in, the chain run, the summary out (JSON on stdout); and
`zes up env`, the settings that point a shell's `zes` commands at the running demo."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from enforcement.settings import ConfigError, load_law, load_settings
from zes.embedded import EmbeddedServerError
from zes.up.chain import Up, UpConfig, console
from zes.up.demo_env import NoDemoError, shell_lines
from zes.up.supervisor import UpError

up_app = typer.Typer(invoke_without_command=True)  # its help: up_command's docstring

#: UpConfig's fields as the options that set them, for one-line errors.
OPTIONS = {"duration_s": "--duration", "vehicles": "--vehicles", "rate": "--rate",
           "zone": "--zone", "edge": "--edge"}  # fmt: skip


def option_error(exc: ValidationError) -> str:
    """`--duration: Input should be greater than 0`: the option and pydantic's message, not
    its URL."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return f"{OPTIONS.get(field, field)}: {first['msg']}"


def print_summary(result: dict[str, Any]) -> None:
    console.print("[bold]summary[/]")
    published = result["passages_published"]
    console.print(
        f"  passages published: {published['edge']:,} by the edge agent, "
        f"{published['synthetic']:,} synthetic"
    )
    decisions = ", ".join(f"{k} {v:,}" for k, v in result["decisions"].items()) or "none"
    console.print(f"  seen by the stream worker: {result['passages_seen']:,}")
    console.print(f"  entries decided: {result['entries_decided']:,} ({decisions})")
    console.print(
        f"  cases opened: {result['cases_opened']:,} "
        f"({result['violation_records']:,} records to the violations topic)"
    )
    console.print(
        f"  cases created by the intake: {result['cases_created']:,}, "
        f"{result['cases_with_evidence']:,} of them with both images"
    )
    if "cases_in_queue" in result:
        console.print(f"  cases in the review queue: {result['cases_in_queue']:,}")
    print(json.dumps(result, sort_keys=True))


@up_app.callback()
def up_command(
    ctx: typer.Context,
    duration: Annotated[
        float | None, typer.Option(help="Run this many seconds, then print a summary.")
    ] = None,
    vehicles: Annotated[int, typer.Option(help="Synthetic register size.")] = 20_000,
    rate: Annotated[float, typer.Option(help="Synthetic passages per second (0: none).")] = 20.0,
    zone: Annotated[str, typer.Option(help="Zone of the simulated cameras.")] = "Utrecht",
    edge: Annotated[bool, typer.Option(help="Run an edge agent on a drive-by video.")] = True,
) -> None:
    """Run the whole chain on 127.0.0.1 (broker, Redis, register, stream worker, edge agent,
    simulated cameras with evidence images, case intake and review app with a demo user of
    every role) until Ctrl-C, or for --duration seconds. `zes up env` in another shell
    points zes enforce, decide, register and flows at it."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    _, catalog = load_law(settings)
    if catalog.get(zone) is None:
        raise ConfigError(f"unknown zone {zone!r}; `zes rules zones` lists them")
    try:
        config = UpConfig(duration_s=duration, vehicles=vehicles, rate=rate, zone=zone, edge=edge)
    except ValidationError as exc:
        raise ConfigError(option_error(exc)) from None
    try:
        result = Up(config, settings).run()
    except (UpError, EmbeddedServerError) as exc:
        console.print(f"[red]zes up: {exc}[/]")
        raise typer.Exit(2) from None
    if result is not None:
        print_summary(result)


@up_app.command("env")
def env_command() -> None:
    """Print the settings of the running demo as shell `export` lines:
    eval "$(zes up env)" points zes enforce, decide, register and flows at it."""
    work = (load_settings().work_dir / "up").resolve()
    try:
        print(shell_lines(work), end="")
    except NoDemoError as exc:
        raise ConfigError(str(exc)) from None
