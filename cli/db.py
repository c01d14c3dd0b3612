"""`govpulse db migrate | status | namespaces | drop`: the database schema of a namespace."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.context import configure_logging, settings_for
from cli.errors import friendly_errors
from cli.output import console
from govpulse.db.migrate import drop_namespace, list_namespaces, migrate, status

app = typer.Typer(help="PostgreSQL / TimescaleDB schema of a namespace.", no_args_is_help=True)


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


NamespaceOption = Annotated[str | None, typer.Option(help="Namespace (default: settings).")]


@app.command("migrate")
@friendly_errors
def migrate_command(namespace: NamespaceOption = None) -> None:
    """Apply pending migrations, refresh reference data and the read-only role's grants."""
    settings = settings_for(namespace)
    configure_logging(settings.log_level)
    report = migrate(settings)
    where = f"namespace {report.namespace} at {settings.db.describe()}"
    if report.timescaledb:
        scheduler = "running" if report.scheduler_alive else "NOT running"
        _say(f"{where}: timescaledb {report.timescaledb}, job scheduler {scheduler}")
    elif report.timescaledb_note is None:
        _say(f"{where}: timescaledb not installed, plain PostgreSQL (rollups are views)")
    if report.timescaledb_note:
        _say(f"{where}: {report.timescaledb_note}")
    for migration in report.applied:
        _say(f"applied  {migration.file_name}")
    if not report.applied:
        _say("up to date: no pending migrations")
    counts = ", ".join(f"{name} {count}" for name, count in report.reference_rows)
    _say(f"reference data: {counts}")
    _say(f"read-only role govpulse_reader: {report.reader_role.value}")


@app.command("status")
@friendly_errors
def status_command(namespace: NamespaceOption = None) -> None:
    """List applied and pending migrations; changes nothing."""
    settings = settings_for(namespace)
    current = status(settings)
    engine = f"timescaledb {current.timescaledb}" if current.timescaledb else "plain PostgreSQL"
    table = Table(
        "migration", "variant", "applied at", title=f"namespace {current.namespace} ({engine})"
    )
    for record in current.applied:
        table.add_row(record.version, record.variant, record.applied_at.isoformat("T", "seconds"))
    for file_name in current.pending:
        table.add_row(file_name, "", "pending")
    console.print(table)
    if current.timescaledb is None:
        _say("timescaledb extension absent in this database: no policy jobs, no scheduler")
        return
    _say(f"TimescaleDB job scheduler of this database: {_alive(current.scheduler_alive)}")
    if not current.jobs:
        _say(f"no policy jobs on namespace {current.namespace} (only live has time-based policies)")
        return
    jobs = Table(
        "job", "policy", "relation", "every", "last run", "status", "runs", "failures",
        "next start", "last error", title=f"TimescaleDB jobs of namespace {current.namespace}",
    )  # fmt: skip
    for job in current.jobs:
        jobs.add_row(
            str(job.job_id),
            job.proc_name.removeprefix("policy_"),
            job.relation,
            str(job.schedule_interval) + ("" if job.scheduled else " (paused)"),
            _when(job.last_run_started_at),
            job.last_run_status or "never ran",
            str(job.total_runs),
            str(job.total_failures),
            _when(job.next_start),
            job.last_error or "",
        )
    console.print(jobs)


def _alive(alive: bool | None) -> str:
    return "running" if alive else "NOT running: no policy runs (see README, TimescaleDB)"


def _when(moment: datetime | None) -> str:
    return moment.isoformat("T", "seconds") if moment else "-"


@app.command("namespaces")
@friendly_errors
def namespaces_command() -> None:
    """List the namespaces migrated in this database."""
    for name in list_namespaces(settings_for(None)):
        _say(name)


@app.command("drop")
@friendly_errors
def drop_command(
    name: Annotated[str, typer.Argument(help="Namespace to drop with all its data.")],
    force: Annotated[bool, typer.Option(help="Allow dropping the live namespace.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop a namespace's schema and everything in it (for example a finished replay)."""
    if not yes:
        typer.confirm(f"Drop namespace {name} and all its data?", abort=True)
    dropped = drop_namespace(settings_for(None), name, force=force)
    _say(f"dropped  {name}" if dropped else f"absent   {name}")
