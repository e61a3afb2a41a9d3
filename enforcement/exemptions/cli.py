"""`zes exemptions …`: the municipal exemption desk's policy files, export and retention."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from enforcement.casework import audit
from enforcement.casework.cli import ActorOption, _actor, _settings, _transaction
from enforcement.exemptions import desk as desk_service
from enforcement.exemptions.export import write_csv
from enforcement.exemptions.files import load_policies
from enforcement.exemptions.policy import MunicipalPolicy, PolicyError, slug_of
from enforcement.exemptions.settings import load_desk_settings
from enforcement.model import LOCAL_TZ
from enforcement.settings import ConfigError, load_law, load_settings

exemptions_app = typer.Typer(
    help="The municipal exemption desk: policy files, export of grants, retention.",
    no_args_is_help=True,
)


def _policies(folder: Path | None = None) -> dict[str, MunicipalPolicy]:
    _, zones = load_law(load_settings())
    where = folder or load_desk_settings().policy_dir
    return load_policies(where, municipalities=frozenset(z.municipality for z in zones))


@exemptions_app.command("check-policy")
def check_policy(
    folder: Annotated[
        Path | None,
        typer.Argument(help="Policy folder (framework.yaml, municipalities/); default the "
                       "setting ZES_DESK_POLICY_DIR."),
    ] = None,
) -> None:  # fmt: skip
    """Validate the policy files; print every problem at once (exit 2) or `ok`."""
    try:
        policies = _policies(folder)
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(2) from None
    for policy in policies.values():
        print(f"ok: {policy.municipality}: {', '.join(sorted(policy.types))}")


@exemptions_app.command("export")
def export_command(
    municipality: Annotated[str, typer.Option(help="The municipality, e.g. Amsterdam.")],
    out: Annotated[
        Path | None, typer.Option(help="CSV file (default var/exemptions-<municipality>.csv).")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Write the municipality's granted exemptions in the layout `zes register
    load-exemptions` reads; the same grants give the same file."""
    who = _actor(actor)
    try:
        policies = _policies()
    except PolicyError as exc:
        raise ConfigError(str(exc).replace("\n", " ")) from None
    policy = policies.get(slug_of(municipality))
    if policy is None:
        raise ConfigError(f"no exemption policy for municipality {municipality!r}")
    settings, _, url = _settings()
    target = out or settings.work_dir / f"exemptions-{policy.slug}.csv"
    with _transaction(url) as session:
        grants = desk_service.granted(session, policy)
        rows = write_csv(target, grants)
        audit.append(
            session, who, "desk_export",
            detail={"municipality": policy.municipality, "exemptions": rows, "file": target.name},
        )  # fmt: skip
    print(f"exported {rows} granted exemptions of {policy.municipality} to {target}")


@exemptions_app.command("purge")
def purge_command(actor: ActorOption = None) -> None:
    """Retention: decided applications after ZES_DESK_RETENTION_DAYS (a grant's after its
    last day); their counts stay for the policy view. Run daily."""
    who = _actor(actor)
    _, _, url = _settings()
    with _transaction(url) as session:
        result = desk_service.purge(
            session, datetime.now(UTC).astimezone(LOCAL_TZ).date(), actor=who
        )
    print(f"purged: {result.applications} applications past retention (counts kept)")
