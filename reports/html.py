"""The report as one self-contained HTML file: inline CSS and SVG plots, no script, no link.

Every text that comes from data is escaped; the plots are SVG produced by `charts`.
"""

from __future__ import annotations

from html import escape

from reports.charts import ranking_svg, trend_svg
from reports.formats import (
    TOP,
    deviation_text,
    difference_text,
    summary_lines,
    title,
    value_text,
)
from reports.monthly import AgencyFigures, MonthlyReport, Unit

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 76em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { text-align: left; background: #f4f4f4; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.basis { color: #555; font-size: 0.9em; }
tr.section td { font-weight: bold; background: #fafafa; }
.off { color: #b53a3a; } .ok { color: #2d7a2d; }
p.note { color: #555; } svg { max-width: 100%; height: auto; }
"""
TOLERANCE = 0.02  # deviations beyond it are shown in red, as `govpulse simulate` does


def _figures_table(report: MonthlyReport) -> str:
    rows = [
        "<table><tr><th>indicator</th><th>stored</th><th>published</th><th>difference</th>"
        "<th>deviation</th><th>basis of the published figure</th></tr>"
    ]
    section = ""
    for f in report.figures:
        if f.section != section:
            section = f.section
            rows.append(f'<tr class="section"><td colspan="6">{escape(section)}</td></tr>')
        deviation = f.deviation
        css = "" if deviation is None else ("ok" if abs(deviation) <= TOLERANCE else "off")
        seed = f" (seed {escape(f.seed)})" if f.seed else ""
        rows.append(
            f"<tr><td>{escape(f.label)}</td>"
            f'<td class="n">{value_text(f.measured, f.unit)}</td>'
            f'<td class="n">{value_text(f.published, f.unit)}</td>'
            f'<td class="n">{difference_text(f)}</td>'
            f'<td class="n {css}">{deviation_text(f)}</td>'
            f'<td class="basis">{escape(f.basis)}{seed}</td></tr>'
        )
    rows.append("</table>")
    return "\n".join(rows)


def _agency_table(agencies: list[tuple[int, AgencyFigures]]) -> str:
    rows = [
        "<table><tr><th>#</th><th>agency</th><th>full-process online rate</th>"
        "<th>dossiers</th><th>full online</th><th>digitised</th></tr>"
    ]
    for rank, a in agencies:
        t = a.dossiers
        rows.append(
            f'<tr><td class="n">{rank}</td>'
            f"<td>{escape(a.name_vi)}<br><small>{escape(a.name_en)} ({escape(a.code)})</small></td>"
            f'<td class="n">{value_text(t.rate, Unit.RATE)}</td>'
            f'<td class="n">{t.submitted:,}</td><td class="n">{t.full_online:,}</td>'
            f'<td class="n">{value_text(t.share(t.digitised), Unit.RATE)}</td></tr>'
        )
    rows.append("</table>")
    return "\n".join(rows)


def render_html(report: MonthlyReport) -> str:
    provinces = report.ranked("province")
    top, bottom = provinces[:TOP], provinces[-TOP:][::-1]
    published_provinces = report.figure("full_online_rate_provinces").published
    summary = "".join(f'<p class="note">{escape(line)}</p>' for line in summary_lines(report))
    not_modelled = "".join(
        f"<li><b>{escape(n.label)}</b>: {escape(n.published)} (seed {escape(n.seed)}). "
        f"{escape(n.reason)}</li>"
        for n in report.not_modelled
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title(report))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title(report))}</h1>",
        summary,
        "<h2>Indicators</h2>",
        _figures_table(report),
        "<h2>Day by day</h2>",
        trend_svg(report),
        f"<h2>Provinces: the {TOP} highest and lowest full-process online rates</h2>",
        ranking_svg(top, bottom, published_provinces) if provinces else "<p>No dossiers.</p>",
        _agency_table(
            [
                (rank, a)
                for rank, a in enumerate(provinces, start=1)
                if rank <= TOP or rank > len(provinces) - TOP
            ]
        ),
        "<h2>Ministries</h2>",
        _agency_table(list(enumerate(report.ranked("ministry"), start=1))),
        "<h2>Published figures the pipeline cannot compute</h2>",
        f"<ul>{not_modelled}</ul>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
