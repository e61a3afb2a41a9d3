"""The `zes` command: one console script, one sub-command per role.

User mistakes (a missing file, a bad date, an unreachable Redis) print one readable line and
exit non-zero; a traceback is only ever shown for a bug, with `ZES_DEBUG=1`.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import typer

from enforcement.cli import decide_command, demo_command, register_app, rules_app
from enforcement.records import RecordError
from enforcement.register.protocol import RegisterUnavailable
from enforcement.scenarios import ScenarioError
from enforcement.settings import ConfigError

app = typer.Typer(
    name="zes",
    help="ANPR enforcement for Dutch zero-emission zones (ZE-zones).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(rules_app, name="rules")
app.add_typer(register_app, name="register")
app.command("decide")(decide_command)
app.command("demo")(demo_command)


dashboards_app = typer.Typer(
    help="Grafana dashboards as code (deploy/grafana).", no_args_is_help=True
)


@dashboards_app.command("generate")
def dashboards_generate(
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 when a generated file is stale."
    ),
) -> None:
    """Write deploy/grafana/dashboards/*.json and the provisioning files."""
    # Imported here: grafana-foundation-sdk is a development dependency, not in the image.
    from zes import dashboards

    if check:
        stale = dashboards.stale_files()
        for path in stale:
            print(f"stale: {path} (run `zes dashboards generate`)", file=sys.stderr)
        if stale:
            raise typer.Exit(1)
        print(f"ok: {len(dashboards.generated_files())} generated files are current")
        return
    for path in dashboards.write_files():
        print(f"wrote {path}")


app.add_typer(dashboards_app, name="dashboards")


def _up_command() -> None:
    from zes.up import up_command

    app.command("up")(up_command)


def _mount_roles() -> None:
    """Edge and stream are imported only here, at the entry point (arrows point inwards)."""
    from stream.cli import stream_app

    app.add_typer(stream_app, name="stream")
    from enforcement.casework.cli import enforce_app

    app.add_typer(enforce_app, name="enforce")
    from enforcement.flows.cli import flows_app

    app.add_typer(flows_app, name="flows")
    if importlib.util.find_spec("edge.cli") is not None:
        edge_cli = importlib.import_module("edge.cli")
        app.add_typer(edge_cli.edge_app, name="edge")


_mount_roles()
_up_command()

#: Errors that are the user's or the environment's, not a bug: one line, exit 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    RecordError,
    ScenarioError,
    RegisterUnavailable,
    FileNotFoundError,
    IsADirectoryError,
    PermissionError,
)


def main(argv: list[str] | None = None) -> int:
    try:
        # Non-standalone click returns a command's `typer.Exit` code instead of exiting.
        code = app(args=argv, standalone_mode=False)
    except USER_ERRORS as exc:
        if os.environ.get("ZES_DEBUG"):
            raise
        print(f"zes: error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        print("zes: aborted", file=sys.stderr)
        return 130
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        from click import ClickException

        if isinstance(exc, ClickException):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
