"""The `zes` command: one console script, one sub-command per role.

User mistakes (a missing file, a bad date, an unreachable Redis) print one readable line and
exit non-zero; a traceback is only ever shown for a bug, with `ZES_DEBUG=1`. Usage errors (a
missing argument or option, an unknown option, a bad value) are one line `zes: error: ...` on
stderr and exit 2, for every sub-command, including those mounted from the roles' modules.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import click
import typer
from pydantic import ValidationError
from typer import _click as typer_click

from enforcement.cli import decide_command, demo_command, register_app, rules_app
from enforcement.law import PassageTimeError
from enforcement.model import LocalTimeError
from enforcement.records import RecordError
from enforcement.register.protocol import RegisterUnavailable
from enforcement.scenarios import ScenarioError
from enforcement.settings import ConfigError, first_error

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
    from zes.up.command import up_app

    app.add_typer(up_app, name="up")


def _mount_roles() -> None:
    """Edge and stream are imported only here, at the entry point (arrows point inwards)."""
    from stream.cli import stream_app

    app.add_typer(stream_app, name="stream")
    from enforcement.casework.cli import enforce_app
    from enforcement.web.cli import serve_command

    enforce_app.command("serve")(serve_command)  # casework speaks no HTTP: web's, mounted here
    app.add_typer(enforce_app, name="enforce")
    from enforcement.flows.cli import flows_app

    app.add_typer(flows_app, name="flows")
    from enforcement.exemptions.cli import exemptions_app

    app.add_typer(exemptions_app, name="exemptions")
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
    PassageTimeError,
    LocalTimeError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

#: Usage errors and other errors click shows to the user. Typer 0.29 raises those of its own
#: vendored click (`typer._click`), which are not subclasses of click's; a sub-app built on
#: click itself would raise click's. Both are answered the same way.
CLICK_ERRORS: tuple[type[BaseException], ...] = (
    typer_click.exceptions.ClickException,
    click.ClickException,
)


def _env_prefix(settings_class: str) -> str | None:
    """The environment prefix of the pydantic-settings class named `settings_class`."""
    from pydantic_settings import BaseSettings

    classes: list[type[BaseSettings]] = [BaseSettings]
    while classes:
        cls = classes.pop()
        if cls.__name__ == settings_class and cls is not BaseSettings:
            return str(cls.model_config.get("env_prefix") or "")
        classes.extend(cls.__subclasses__())
    return None


def _validation_line(exc: ValidationError) -> str:
    """A settings (or options) validation error that no role wrapped: the setting as its
    environment variable and pydantic's message, on one line, without pydantic's URL."""
    prefix = _env_prefix(exc.title)
    if prefix is None:
        return f"{exc.title}: {first_error(exc)}"
    return f"setting {first_error(exc, prefix)}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_line(exc: BaseException) -> str:
    """`zes: error: <what>` with the command's help hint, on one line."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"zes: error: {_one_line(message)}{hint}"


def main(argv: list[str] | None = None) -> int:
    try:
        # Non-standalone click returns a command's `typer.Exit` code instead of exiting.
        code = app(args=argv, standalone_mode=False, prog_name="zes")
    except USER_ERRORS as exc:
        if os.environ.get("ZES_DEBUG"):
            raise
        print(f"zes: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if os.environ.get("ZES_DEBUG"):
            raise
        print(f"zes: error: {_validation_line(exc)}", file=sys.stderr)
        return 2
    except OverflowError as exc:
        # A date or number at the end of its range that no check above caught.
        if os.environ.get("ZES_DEBUG"):
            raise
        print(f"zes: error: a date or number is out of range ({exc})", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        print("zes: aborted", file=sys.stderr)
        return 130
    except typer_click.exceptions.NoArgsIsHelpError as exc:
        # A group without its sub-command: the help on stdout, the error line on stderr.
        print(exc.format_message())
        path = exc.ctx.command_path
        print(f"zes: error: missing command (see '{path} --help')", file=sys.stderr)
        return 2
    except CLICK_ERRORS as exc:
        print(_usage_line(exc), file=sys.stderr)
        code = getattr(exc, "exit_code", 2)
        return code if isinstance(code, int) else 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
