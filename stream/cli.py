"""`zes stream worker`: run one Faust stream worker."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

LOG_LEVELS = ("debug", "info", "warning", "error")

stream_app = typer.Typer(help="Stream workers: decide passages with the law.", no_args_is_help=True)


@stream_app.command("worker")
def worker(
    loglevel: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
    dev: Annotated[
        bool, typer.Option("--dev", help="Allow development secrets (one machine only).")
    ] = False,
) -> None:
    """Run a stream worker (settings from ZES_* and ZES_STREAM_* environment variables)."""
    if loglevel.lower() not in LOG_LEVELS:
        raise typer.BadParameter(f"{loglevel!r} is not one of {', '.join(LOG_LEVELS)}",
                                 param_hint="'--loglevel'")  # fmt: skip
    import faust
    import mode.loop

    from enforcement.settings import load_settings, require_keys
    from stream.app import StreamWorker, tune_gc
    from stream.settings import StreamSettings

    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    require_keys("the stream worker", [load_settings().hash_key], dev=dev)
    settings = StreamSettings()
    if settings.uvloop:
        mode.loop.use("uvloop")  # measured: the asyncio loop is a large part of Faust's cost

    stream_worker = StreamWorker(settings)
    tune_gc(settings.gc_gen0_threshold)
    faust.Worker(stream_worker.app, loglevel=loglevel, quiet=True).execute_from_commandline()
