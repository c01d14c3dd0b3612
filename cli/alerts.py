"""`govpulse alerts rules | list | silence | silences | expire | export-grafana`."""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
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


def _aware(moment: datetime, option: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{option} needs a timezone, e.g. 2024-10-01T09:00:00+07:00")
    return moment


@app.command("backtest")
@friendly_errors
def backtest_command(
    from_: Annotated[datetime, typer.Option("--from", help="Event time from (ISO 8601, zone).")],
    to: Annotated[datetime, typer.Option("--to", help="Event time to, inclusive.")],
    namespace: NamespaceOption = None,
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="Rules to try (default: settings, packaged).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The transitions a rules file would have made over the stored data, and per rule how often
    and how long it fired; writes nothing."""
    import asyncio

    from streams.alerting.backtest import backtest

    settings = settings_for(namespace)
    source, rules = _load(rules_file, namespace)
    start, end = _aware(from_, "--from"), _aware(to, "--to")
    result = asyncio.run(backtest(settings, rules, start, end))
    if as_json:
        document = {
            "namespace": settings.namespace, "rules": source,
            "from": result.start.isoformat(), "to": result.end.isoformat(),
            "evaluations": result.evaluations,
            "transitions": [
                {
                    "at": t.at.isoformat(), "rule": t.rule.name, "fingerprint": t.fingerprint,
                    "state": t.state.value, "labels": t.labels, "value": t.value,
                }
                for t in result.transitions
            ],
            "summary": [
                {
                    "rule": s.rule, "fired": s.fired, "firing_s": s.total.total_seconds(),
                    "longest_s": s.longest.total_seconds(), "still_firing": s.still_firing,
                }
                for s in result.summaries
            ],
        }  # fmt: skip
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(
        "at", "rule", "state", "labels", "value",
        title=f"{len(result.transitions)} transitions, {settings.namespace}, "
        f"{result.start.isoformat()} to {result.end.isoformat()} ({source})",
    )  # fmt: skip
    for t in result.transitions:
        table.add_row(
            t.at.isoformat(), t.rule.name, t.state.value,
            ", ".join(f"{k}={v}" for k, v in t.labels.items()) or "-",
            "-" if t.value is None else f"{t.value:g}",
        )  # fmt: skip
    console.print(table)
    summary = Table(
        "rule", "fired", "firing in total", "longest", "still firing at the end",
        title=f"per rule, {result.evaluations} evaluations (one a minute)",
    )  # fmt: skip
    for s in result.summaries:
        summary.add_row(
            s.rule, str(s.fired), format_duration(s.total), format_duration(s.longest),
            str(s.still_firing),
        )  # fmt: skip
    console.print(summary)


@app.command("test")
@friendly_errors
def test_command(
    file: Annotated[
        Path, typer.Argument(help="Rule tests (YAML), e.g. govpulse/alerts/rules.test.yaml.")
    ],
) -> None:
    """Run rule unit tests (input series, expected alerts); exit 1 on any mismatch."""
    from streams.alerting.ruletest import RuleTestError, run_file

    try:
        results = run_file(file)
    except RuleTestError as exc:
        raise fail(str(exc), code=2) from None
    for result in results:
        _say(f"{'ok    ' if result.passed else 'FAILED'} {result.name}")
        for failure in result.failures:
            _say(f"         {failure}")
    failed = sum(not r.passed for r in results)
    _say(f"{len(results) - failed} passed, {failed} failed ({file})")
    if failed:
        raise typer.Exit(1)


@app.command("list")
@friendly_errors
def list_command(
    namespace: NamespaceOption = None,
    recent: Annotated[str, typer.Option(help="History to show, e.g. 24h, 30m.")] = "24h",
) -> None:
    """Alerts firing now and the recent transitions."""
    settings = settings_for(namespace)
    firing, history = list_alerts(settings, parse_duration(recent))
    table = Table(
        "since", "severity", "alert", "value", "summary", "notification", title="firing now"
    )  # fmt: skip
    for row in firing:
        mark = " (silenced)" if row.silenced else ""
        table.add_row(
            row.started_at.isoformat(timespec="seconds"), row.severity, row.fingerprint + mark,
            "-" if row.value is None else f"{row.value:g}", row.summary, row.delivery.describe(),
        )  # fmt: skip
    console.print(table)
    table = Table(
        "at", "state", "alert", "value", "notification", title=f"transitions in the last {recent}"
    )  # fmt: skip
    for row in history:
        table.add_row(
            row.at.isoformat(timespec="seconds"), row.state, row.fingerprint,
            "-" if row.value is None else f"{row.value:g}", row.delivery.describe(),
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
