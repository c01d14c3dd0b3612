"""`govpulse alerts rules | list | silence | silences | expire | export-grafana`."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.context import settings_for
from cli.errors import fail, friendly_errors
from cli.output import console
from govpulse.alerts.grafana import export
from govpulse.alerts.measures import MEASURES
from govpulse.alerts.rules import (
    Rule,
    RulesError,
    default_rules_path,
    format_duration,
    load_rules,
    parse_duration,
)
from govpulse.alerts.silences import parse_matchers
from govpulse.alerts.store import add_silence, expire_silence, list_alerts, list_silences

app = typer.Typer(help="Alert rules, firing alerts and silences.", no_args_is_help=True)

NamespaceOption = Annotated[str | None, typer.Option(help="Namespace (default: settings).")]
RulesOption = Annotated[
    Path | None, typer.Option("--file", help="Rules file (default: settings, else packaged).")
]


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


def _load(file: Path | None, namespace: str | None = None) -> tuple[str, tuple[Rule, ...]]:
    """(where the rules come from, the validated rules); invalid rules exit with code 2."""
    settings = settings_for(namespace)
    path = file or (Path(settings.alerts.rules_file) if settings.alerts.rules_file else None)
    try:
        return str(path or default_rules_path()), load_rules(path)
    except RulesError as exc:
        raise fail(str(exc), code=2) from None


@app.command("rules")
@friendly_errors
def rules_command(file: RulesOption = None) -> None:
    """Validate the rules file and show its rules."""
    source, rules = _load(file)
    table = Table(
        "rule", "measure", "group by", "condition", "recovery", "for", "keep", "severity",
        title=f"{len(rules)} valid rules ({source})",
    )  # fmt: skip
    for r in rules:
        table.add_row(
            r.name, r.measure, ", ".join(r.group_by) or "-", f"{r.op} {r.threshold:g}",
            "-" if r.recovery_threshold is None else f"{r.recovery_threshold:g}",
            format_duration(r.for_), format_duration(r.keep_firing_for), r.severity.value,
        )  # fmt: skip
    console.print(table)
    measures = Table("measure", "unit", "labels", "what", title="measures")
    for m in MEASURES.values():
        measures.add_row(m.name, m.unit, ", ".join(m.labels), m.description)
    console.print(measures)


@app.command("list")
@friendly_errors
def list_command(
    namespace: NamespaceOption = None,
    recent: Annotated[str, typer.Option(help="History to show, e.g. 24h, 30m.")] = "24h",
) -> None:
    """Alerts firing now and the recent transitions."""
    settings = settings_for(namespace)
    firing, history = list_alerts(settings, parse_duration(recent))
    table = Table("since", "severity", "alert", "value", "summary", title="firing now")
    for row in firing:
        mark = " (silenced)" if row.silenced else ""
        table.add_row(
            row.started_at.isoformat(timespec="seconds"), row.severity, row.fingerprint + mark,
            "-" if row.value is None else f"{row.value:g}", row.summary,
        )  # fmt: skip
    console.print(table)
    table = Table("at", "state", "alert", "value", title=f"transitions in the last {recent}")
    for row in history:
        table.add_row(
            row.at.isoformat(timespec="seconds"), row.state, row.fingerprint,
            "-" if row.value is None else f"{row.value:g}",
        )  # fmt: skip
    console.print(table)


@app.command("silence")
@friendly_errors
def silence_command(
    match: Annotated[
        list[str], typer.Option("--match", help="key=value a label must equal (repeatable).")
    ],
    duration: Annotated[str, typer.Option(help="How long, e.g. 2h, 30m.")] = "2h",
    comment: Annotated[str, typer.Option(help="Why (shown with the silence).")] = "",
    author: Annotated[str | None, typer.Option(help="Who (default: login name).")] = None,
    namespace: NamespaceOption = None,
) -> None:
    """Silence the notifications of alerts whose labels match, for a bounded time."""
    settings = settings_for(namespace)
    silence = add_silence(
        settings, parse_matchers(match), parse_duration(duration), comment,
        author or getpass.getuser(),
    )  # fmt: skip
    matchers = ", ".join(f"{k}={v}" for k, v in silence.matchers.items())
    _say(f"silence {silence.id}: {matchers} until {silence.ends_at.isoformat(timespec='seconds')}")


@app.command("silences")
@friendly_errors
def silences_command(namespace: NamespaceOption = None) -> None:
    """Silences that have not ended."""
    table = Table("id", "matchers", "from", "until", "by", "comment")
    for s in list_silences(settings_for(namespace)):
        table.add_row(
            str(s.id), ", ".join(f"{k}={v}" for k, v in s.matchers.items()),
            s.starts_at.isoformat(timespec="seconds"), s.ends_at.isoformat(timespec="seconds"),
            s.created_by, s.comment,
        )  # fmt: skip
    console.print(table)


@app.command("expire")
@friendly_errors
def expire_command(
    silence_id: Annotated[int, typer.Argument(help="The silence's id.")],
    namespace: NamespaceOption = None,
) -> None:
    """End a silence now."""
    if not expire_silence(settings_for(namespace), silence_id):
        raise fail(f"no active silence {silence_id}")
    _say(f"expired silence {silence_id}")


@app.command("export-grafana")
@friendly_errors
def export_command(
    out: Annotated[Path, typer.Option(help="Provisioning file to write.")] = Path(
        "dashboards/provisioning/alerting/govpulse-rules.yaml"
    ),
    file: RulesOption = None,
    namespace: NamespaceOption = None,
    datasource_uid: Annotated[
        str, typer.Option(help="UID of Grafana's PostgreSQL datasource.")
    ] = "govpulse-timescaledb",
    folder: Annotated[str, typer.Option(help="Grafana folder of the rules.")] = "govpulse",
) -> None:
    """Write the rules as a Grafana alert-rule provisioning file."""
    settings = settings_for(namespace)
    _, rules = _load(file, namespace)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(export(rules, settings.namespace, datasource_uid, folder), encoding="utf-8")
    _say(f"wrote {len(rules)} rules to {out}")
