"""The report as text, Markdown or JSON, and the registry of every format (HTML in `html`).

Each renderer takes a `MonthlyReport` and returns the whole document as a string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from reports.monthly import AgencyFigures, Figure, MonthlyReport, Unit

TOP = 5  # provinces shown at each end of the ranking


def value_text(value: float | None, unit: Unit) -> str:
    if value is None:
        return "-"
    if unit is Unit.RATE:
        return f"{value:.2%}"
    return f"{value:,.0f}"


def difference_text(figure: Figure) -> str:
    difference = figure.difference
    if difference is None:
        return "-"
    if figure.unit is Unit.RATE:
        return f"{difference * 100:+.2f} pp"
    return f"{difference:+,.0f}"


def deviation_text(figure: Figure) -> str:
    return "-" if figure.deviation is None else f"{figure.deviation:+.2%}"


def title(report: MonthlyReport) -> str:
    return f"govpulse monthly report {report.month}: indicators of report 200/BC-BTTTT"


def summary_lines(report: MonthlyReport) -> list[str]:
    last = report.days[-1].day if report.days else report.start.date()
    lines = [
        f"namespace {report.namespace}; {report.days[0].day if report.days else ''} to {last} "
        f"(Vietnam time), computed from the daily rollups; data on {report.days_with_data} of "
        f"{report.days_in_month} days.",
        "Published: the figure of report 200/BC-BTTTT (seeds 002-004), pro rata to this month "
        "where it covers another window (see its basis).",
    ]
    if report.scale != 1.0:
        lines.append(
            f"The namespace holds a simulation at scale {report.scale:g}: published volumes are "
            f"multiplied by {report.scale:g}; rates are compared as they are."
        )
    if report.days_with_data < report.days_in_month:
        lines.append(
            f"Warning: {report.days_in_month - report.days_with_data} days hold no data; the "
            "month is incomplete and its totals fall short of the published figures."
        )
    return lines


def _sections(report: MonthlyReport) -> dict[str, list[Figure]]:
    sections: dict[str, list[Figure]] = {}
    for figure in report.figures:
        sections.setdefault(figure.section, []).append(figure)
    return sections


def _rate(agency: AgencyFigures) -> str:
    return value_text(agency.dossiers.rate, Unit.RATE)


def render_text(report: MonthlyReport) -> str:
    out = [title(report), *summary_lines(report), ""]
    header = f"{'':46}{'stored':>18}{'published':>18}{'difference':>16}{'deviation':>11}"
    notes: list[str] = []
    for section, figures in _sections(report).items():
        out.append(section + header[len(section) :])
        for f in figures:
            notes.append(
                f"[{len(notes) + 1}] {f.label}: {f.basis}" + (f" (seed {f.seed})" if f.seed else "")
            )
            out.append(
                f"  {f.label:44}{value_text(f.measured, f.unit):>18}"
                f"{value_text(f.published, f.unit):>18}{difference_text(f):>16}"
                f"{deviation_text(f):>11}  [{len(notes)}]"
            )
        out.append("")
    provinces = report.ranked("province")
    for name, chosen in (
        (f"Top {TOP} provinces", provinces[:TOP]),
        (f"Bottom {TOP} provinces", provinces[-TOP:][::-1]),
        ("Ministries", report.ranked("ministry")),
    ):
        out.append(
            f"{name + ' by full-process online rate':52}{'rate':>8}{'dossiers':>12}"
            f"{'full online':>14}"
        )
        for a in chosen:
            out.append(
                f"  {a.name_en[:50]:50}{_rate(a):>8}{a.dossiers.submitted:>12,}"
                f"{a.dossiers.full_online:>14,}"
            )
        out.append("")
    out.append("Published figures the pipeline cannot compute")
    for item in report.not_modelled:
        out.append(f"  {item.label}: {item.published} (seed {item.seed}): {item.reason}")
    out += ["", "Basis of the published figures", *(f"  {note}" for note in notes)]
    return "\n".join(out) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render_markdown(report: MonthlyReport) -> str:
    out = [f"# {title(report)}", "", *summary_lines(report), ""]
    for section, figures in _sections(report).items():
        out += [f"## {section}", ""]
        out.append(
            _md_row(["indicator", "stored", "published", "difference", "deviation", "basis"])
        )
        out.append("|---|--:|--:|--:|--:|---|")
        for f in figures:
            out.append(
                _md_row(
                    [
                        f.label,
                        value_text(f.measured, f.unit),
                        value_text(f.published, f.unit),
                        difference_text(f),
                        deviation_text(f),
                        f.basis + (f" (seed {f.seed})" if f.seed else ""),
                    ]
                )
            )
        out.append("")
    provinces = report.ranked("province")
    for name, chosen in (
        (f"Top {TOP} provinces", provinces[:TOP]),
        (f"Bottom {TOP} provinces", provinces[-TOP:][::-1]),
        ("Ministries", report.ranked("ministry")),
    ):
        out += [f"## {name} by full-process online rate", ""]
        out += [_md_row(["agency", "rate", "dossiers", "full online"]), "|---|--:|--:|--:|"]
        out += [
            _md_row(
                [
                    f"{a.name_en} ({a.name_vi})",
                    _rate(a),
                    f"{a.dossiers.submitted:,}",
                    f"{a.dossiers.full_online:,}",
                ]
            )
            for a in chosen
        ]
        out.append("")
    out += ["## Published figures the pipeline cannot compute", ""]
    out += [
        f"- {item.label}: {item.published} (seed {item.seed}): {item.reason}"
        for item in report.not_modelled
    ]
    return "\n".join(out) + "\n"


def as_dict(report: MonthlyReport) -> dict[str, Any]:
    """Every number of the report, as plain JSON types."""

    def tally(t: Any) -> dict[str, Any]:
        return {
            "submitted": t.submitted,
            "full_online": t.full_online,
            "digitised": t.digitised,
            "data_reused": t.data_reused,
            "full_online_rate": t.rate,
        }

    return {
        "namespace": report.namespace,
        "month": report.month,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "scale": report.scale,
        "days_with_data": report.days_with_data,
        "days_in_month": report.days_in_month,
        "figures": [
            {
                "key": f.key,
                "section": f.section,
                "label": f.label,
                "unit": f.unit.value,
                "stored": f.measured,
                "published": f.published,
                "difference": f.difference,
                "deviation": f.deviation,
                "basis": f.basis,
                "seed": f.seed,
            }
            for f in report.figures
        ],
        "days": [
            {
                "day": d.day.isoformat(),
                "dossiers": tally(d.dossiers),
                "ministries": tally(d.ministries),
                "provinces": tally(d.provinces),
                "portal_online": d.portal_online,
                "payments": d.payments,
                "payment_value_vnd": d.payment_value_vnd,
                "ndxp_calls": d.ndxp_calls,
                "documents_sent": d.documents_sent,
                "documents_received": d.documents_received,
                "incidents": d.incidents,
            }
            for d in report.days
        ],
        "agencies": [
            {
                "code": a.code,
                "name_vi": a.name_vi,
                "name_en": a.name_en,
                "level": a.level,
                **tally(a.dossiers),
            }
            for a in report.agencies
        ],
        "not_modelled": [
            {"label": n.label, "published": n.published, "seed": n.seed, "reason": n.reason}
            for n in report.not_modelled
        ],
    }


def render_json(report: MonthlyReport) -> str:
    return orjson.dumps(as_dict(report), option=orjson.OPT_INDENT_2).decode() + "\n"


def _render_html(report: MonthlyReport) -> str:
    from reports.html import render_html  # matplotlib is loaded only for this format

    return render_html(report)


FORMATS: dict[str, Callable[[MonthlyReport], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "html": _render_html,
    "json": render_json,
}


def renderer(name: str) -> Callable[[MonthlyReport], str]:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; formats: {', '.join(FORMATS)}") from None
