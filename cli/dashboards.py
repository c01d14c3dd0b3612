"""`govpulse dashboards build | diff | push`: Grafana dashboards as code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.context import configure_logging, settings_for
from cli.errors import fail, friendly_errors
from cli.output import console
from dashboards.catalogue import GENERATED_DIR, build_all, drift, write_all

app = typer.Typer(help="Grafana dashboards: generate, check, publish.", no_args_is_help=True)

DirOption = Annotated[Path, typer.Option("--dir", help="Directory of the generated JSON.")]


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True, markup=False)


@app.command("build")
@friendly_errors
def build_command(directory: DirOption = GENERATED_DIR) -> None:
    """Write every dashboard's JSON (commit the result)."""
    for path in write_all(directory):
        _say(f"wrote    {path}")


@app.command("diff")
@friendly_errors
def diff_command(
    directory: DirOption = GENERATED_DIR,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Names only, no diff.")] = False,
) -> None:
    """Exit 1 when the committed JSON differs from what the code generates."""
    found = drift(directory)
    for item in found:
        _say(f"{item.reason:<8} {item.name}")
        if item.diff and not quiet:
            _say(item.diff)
    if found:
        raise fail(
            f"{len(found)} dashboard(s) differ from the code: run `govpulse dashboards build` "
            "and commit the result"
        )
    _say(f"up to date: {len(build_all())} dashboards in {directory}")


@app.command("push")
@friendly_errors
def push_command(
    url: Annotated[str | None, typer.Option(help="Grafana URL (default: settings).")] = None,
    folder: Annotated[str | None, typer.Option(help="Folder title (default: settings).")] = None,
) -> None:
    """Save every dashboard to a running Grafana, overwriting by uid (idempotent)."""
    # Here, not at the top: the Grafana client's HTTP stack is a fifth of a second of every
    # `govpulse` start (the worker's too) that only this command needs.
    from dashboards.publisher import GrafanaError, publish

    settings = settings_for(None)
    configure_logging(settings.log_level)
    grafana = settings.grafana.model_copy(
        update={k: v for k, v in {"url": url, "folder": folder}.items() if v is not None}
    )
    try:
        report = publish(grafana, build_all())
    except GrafanaError as exc:
        raise fail(str(exc)) from None
    state = "created" if report.folder_created else "existing"
    _say(f"folder   {grafana.folder} ({state}, uid {report.folder_uid})")
    for uid, version in report.dashboards:
        _say(f"pushed   {uid} (version {version})")
