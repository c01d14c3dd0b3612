"""The report's plots, drawn with matplotlib as SVG text to inline in the HTML page.

`Figure` objects are used directly (no pyplot): no global state, no display, no GUI backend.
Text is drawn as paths, so the SVG needs no font; the hash salt and the absence of a date keep
the output identical for identical data.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from reports.monthly import AgencyFigures, MonthlyReport

mpl.rcParams["svg.hashsalt"] = "govpulse-report"
mpl.rcParams["svg.fonttype"] = "path"

_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
PUBLISHED_STYLE = {"color": "0.35", "linestyle": "--", "linewidth": 1}
COLOURS = ("#1f6fb4", "#d9822b", "#3a923a", "#b53a3a")


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    # The XML prolog and doctype do not belong inside HTML; the RDF metadata says nothing useful.
    return _METADATA.sub("", text[text.index("<svg") :], count=1)


def _thousands(axes: Axes) -> None:
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _days_axis(axes: Axes, days: Sequence[date]) -> None:
    ticks = list(days[::7])
    axes.set_xticks(ticks, [f"{day:%d %b}" for day in ticks])  # type: ignore[arg-type]
    axes.grid(axis="y", color="0.9")
    axes.set_axisbelow(True)


def _published(axes: Axes, value: float | None, label: str) -> None:
    if value is not None:
        axes.axhline(value, label=label, **PUBLISHED_STYLE)  # type: ignore[arg-type]


def trend_svg(report: MonthlyReport) -> str:
    """Six panels, one point per Vietnam day: dossiers, online rates, payments, NDXP calls,
    documents and incidents."""
    days = [d.day for d in report.days]
    figure = Figure(figsize=(12, 10.5), layout="constrained")
    grid = figure.subplots(3, 2, sharex=True)
    ((dossiers, rates), (payments, ndxp), (documents, incidents)) = grid

    dossiers.bar(
        days,
        [d.dossiers.submitted for d in report.days],
        color=COLOURS[0],
        label="submitted (all channels)",
    )
    dossiers.plot(
        days,
        [d.portal_online for d in report.days],
        color=COLOURS[1],
        marker=".",
        label="online, from the Portal",
    )
    dossiers.set_title("Dossiers submitted a day")

    for colour, (label, values) in zip(
        COLOURS,
        (
            ("national", [d.dossiers.rate for d in report.days]),
            ("ministries", [d.ministries.rate for d in report.days]),
            ("provinces", [d.provinces.rate for d in report.days]),
        ),
        strict=False,
    ):
        rates.plot(
            days,
            [float("nan") if v is None else v for v in values],
            color=colour,
            marker=".",
            label=label,
        )
    for key in ("full_online_rate", "full_online_rate_ministries", "full_online_rate_provinces"):
        _published(rates, report.figure(key).published, "")
    rates.yaxis.set_major_formatter(PercentFormatter(1.0))
    rates.set_ylim(0, 1)
    rates.set_title("Full-process online rate a day (dashed: published)")

    payments.bar(days, [d.payments for d in report.days], color=COLOURS[2], label="successful")
    per_day = report.figure("payments").published
    _published(
        payments, per_day / len(days) if per_day and days else None, "published ÷ days in month"
    )
    payments.set_title("Online payments a day")

    ndxp.bar(days, [d.ndxp_calls for d in report.days], color=COLOURS[0], label="calls")
    _published(ndxp, report.figure("ndxp_per_day").published, "published average day")
    ndxp.set_title("NDXP transactions a day")

    sent = [d.documents_sent for d in report.days]
    documents.bar(days, sent, color=COLOURS[0], label="sent")
    documents.bar(
        days,
        [d.documents_received for d in report.days],
        bottom=sent,
        color=COLOURS[1],
        label="received",
    )
    documents.set_title("Documents on the Axis a day")

    incidents.bar(days, [d.incidents for d in report.days], color=COLOURS[3], label="detected")
    incidents.set_title("Cyber incidents detected a day")

    for axes in grid.flat:
        _days_axis(axes, days)
        if axes is not rates:
            _thousands(axes)
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.margins(y=0.3)  # room for the legend above the highest bar
        handles, _ = axes.get_legend_handles_labels()
        if handles:
            axes.legend(loc="upper left", fontsize="small", frameon=False)
    return _svg(figure)


def ranking_svg(
    top: Sequence[AgencyFigures], bottom: Sequence[AgencyFigures], published: float | None
) -> str:
    """Horizontal bars of the full-process online rate of the top and bottom provinces."""
    figure = Figure(figsize=(12, 0.9 + 0.32 * max(len(top), len(bottom))), layout="constrained")
    left, right = figure.subplots(1, 2, sharex=True)
    for axes, chosen, colour, name in (
        (left, top, COLOURS[2], "Highest"),
        (right, bottom, COLOURS[3], "Lowest"),
    ):
        labels = [a.name_en for a in chosen][::-1]
        values = [a.dossiers.rate or 0.0 for a in chosen][::-1]
        axes.barh(labels, values, color=colour)
        for y, value in enumerate(values):
            axes.text(value, y, f" {value:.1%}", va="center", fontsize="small")
        if published is not None:
            axes.axvline(published, **PUBLISHED_STYLE)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_title(f"{name} full-process online rate, provinces (dashed: published)")
        axes.grid(axis="x", color="0.9")
        axes.set_axisbelow(True)
    highest = max((a.dossiers.rate or 0.0 for a in (*top, *bottom)), default=0.0)
    left.set_xlim(0, max(highest, published or 0.0) * 1.25 or 1.0)
    return _svg(figure)
