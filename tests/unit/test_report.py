"""The monthly report's pure parts: figures from rollup rows, published references, formats."""

from __future__ import annotations

import re
from datetime import date

import orjson
import pytest

from connectors import calibration as cal
from reports.formats import FORMATS, render_json, render_markdown, render_text, renderer
from reports.monthly import FIGURES, MonthlyReport, build
from reports.published import references
from reports.report import parse_month
from reports.rollups import (
    AgencyInfo,
    DocumentRow,
    DossierRow,
    IncidentRow,
    MonthData,
    NdxpRow,
    PaymentRow,
)

OCTOBER = cal.OCTOBER_2024
AGENCIES = {
    "BCA": AgencyInfo("BCA", "Bộ Công an", "Ministry of Public Security", "ministry"),
    "HNI": AgencyInfo("HNI", "Hà Nội", "Ha Noi", "province"),
    "CBG": AgencyInfo("CBG", "Cao Bằng", "Cao Bang", "province"),
}
D1, D2 = date(2024, 10, 1), date(2024, 10, 31)


def _data() -> MonthData:
    return MonthData(
        start=OCTOBER[0],
        end=OCTOBER[1],
        dossiers=(
            DossierRow(D1, "BCA", "portal", "full_online", 60, 30, 1),
            DossierRow(D1, "BCA", "one_stop", "offline", 40, 20, 0),
            DossierRow(D1, "HNI", "portal", "partial_online", 50, 40, 10),
            DossierRow(D2, "HNI", "vneid", "full_online", 30, 20, 5),
            DossierRow(D2, "CBG", "postal", "offline", 20, 10, 2),
            DossierRow(D2, "XXX", "portal", "full_online", 5, 0, 0),  # unknown to the reference
        ),
        payments=(
            PaymentRow(D1, "success", 7, 700_000),
            PaymentRow(D1, "failed", 3, 300_000),
            PaymentRow(D2, "success", 2, 50_000),
        ),
        ndxp=(
            NdxpRow(D1, "population_identity", "ok", 600),
            NdxpRow(D1, "population_identity", "mismatch", 400),
            NdxpRow(D1, "population_identity", "timeout", 10),
            NdxpRow(D2, "insurance", "mismatch", 990),
        ),
        ndxp_agencies=2,
        documents=(
            DocumentRow(D1, "sent", "", 10),
            DocumentRow(D1, "receipt", "delivered", 20),
            DocumentRow(D2, "receipt", "acknowledged", 5),
            DocumentRow(D2, "receipt", "failed", 1),
        ),
        incidents=(IncidentRow(D1, "detected", 3), IncidentRow(D2, "resolved", 3)),
        agencies=AGENCIES,
    )


def _report(scale: float = 1.0) -> MonthlyReport:
    start, end = OCTOBER
    return build(
        _data(), references(start, end, scale), namespace="t", month="2024-10", scale=scale
    )


def test_figures_follow_the_definitions() -> None:
    report = _report()
    measured = {f.key: f.measured for f in report.figures}
    assert list(measured) == list(FIGURES)
    assert measured["dossiers_synced"] == 205
    assert measured["portal_online"] == 60 + 50 + 5  # portal, full or partial online
    assert measured["full_online_rate"] == pytest.approx((60 + 30 + 5) / 205)
    assert measured["full_online_rate_ministries"] == pytest.approx(60 / 100)
    assert measured["full_online_rate_provinces"] == pytest.approx(30 / 100)
    assert measured["digitised_rate_provinces"] == pytest.approx(70 / 100)
    assert measured["data_reuse_rate_ministries"] == pytest.approx(1 / 100)
    assert (measured["payments"], measured["payment_value_vnd"]) == (9, 750_000)
    assert measured["documents_sent"] == 10
    assert measured["documents_received"] == 25  # failed deliveries are not received
    assert measured["deliveries_failed"] == 1
    assert measured["ndxp_per_day"] == pytest.approx(2000 / 31)
    assert measured["verification_requests"] == 1010  # the population service only
    assert measured["verification_match_rate"] == pytest.approx(0.6)
    assert measured["incidents"] == 3
    assert report.days_in_month == 31 and report.days_with_data == 2
    assert [d.day for d in report.days][::30] == [D1, D2]
    assert report.days[0].ndxp_calls == 1010 and report.days[-1].dossiers.submitted == 55


def test_agencies_are_ranked_and_unknown_codes_kept() -> None:
    report = _report()
    assert [a.code for a in report.ranked("province")] == ["HNI", "CBG"]
    unknown = [a for a in report.agencies if a.code == "XXX"]
    assert unknown and unknown[0].level == "other" and unknown[0].dossiers.submitted == 5


def test_published_figures_for_october_2024() -> None:
    refs = references(*OCTOBER, 1.0)
    assert set(refs) == set(FIGURES)
    assert refs["documents_sent"].value == pytest.approx(302_765)
    assert refs["documents_received"].value == pytest.approx(775_889)
    assert refs["incidents"].value == 204
    assert refs["ndxp_per_day"].value == 2_800_000
    assert refs["full_online_rate"].value == 0.438
    assert refs["verification_requests"].value is None
    assert "cumulative" in refs["verification_requests"].basis
    # The Portal's figures cover 20 Sep to 23 Oct: October gets a share, said in the basis.
    dossiers = refs["dossiers_synced"]
    assert dossiers.value is not None and 0.7 * 11_600_000 < dossiers.value < 11_600_000
    assert "pro rata" in dossiers.basis and "pro rata" not in refs["documents_sent"].basis
    share = dossiers.value / 11_600_000
    assert refs["payments"].value == pytest.approx(982_500 * share)


def test_scale_multiplies_volumes_not_rates() -> None:
    full, small = references(*OCTOBER, 1.0), references(*OCTOBER, 0.01)
    for key in ("documents_sent", "dossiers_synced", "payment_value_vnd", "ndxp_per_day"):
        assert small[key].value == pytest.approx(full[key].value * 0.01)  # type: ignore[operator]
        assert "scale 0.01" in small[key].basis
    assert small["full_online_rate"].value == full["full_online_rate"].value
    assert small["ndxp_agencies"].value == full["ndxp_agencies"].value


def test_incidents_say_when_a_month_was_not_published() -> None:
    assert references(*cal.month_window(2024, 9), 1.0)["incidents"].value == 250
    march = references(*cal.month_window(2024, 3), 1.0)["incidents"]
    assert march.value is not None and "not published" in march.basis
    later = references(*cal.month_window(2025, 3), 1.0)["incidents"]
    assert later.value is None and "not published" in later.basis


@pytest.mark.parametrize("text", ["2024-13", "24-10", "october", "2024-10-01", ""])
def test_a_wrong_month_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(text)


def test_month_is_a_vietnam_month() -> None:
    start, end = parse_month("2024-10")
    assert (start.isoformat(), end.isoformat()) == (
        "2024-10-01T00:00:00+07:00",
        "2024-11-01T00:00:00+07:00",
    )


def test_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="text, markdown, html, json"):
        renderer("pdf")


def test_text_markdown_and_json_carry_every_figure() -> None:
    report = _report()
    text, markdown = render_text(report), render_markdown(report)
    document = orjson.loads(render_json(report))
    assert [f["key"] for f in document["figures"]] == list(FIGURES)
    for figure in report.figures:
        assert figure.label in text and figure.label in markdown
    assert "205" in text and "60.00%" in text  # dossiers; the ministries' rate
    sent = next(f for f in document["figures"] if f["key"] == "documents_sent")
    assert sent["stored"] == 10 and sent["difference"] == pytest.approx(10 - 302_765)
    assert len(document["days"]) == 31
    assert "Warning: 29 days hold no data" in text


def test_html_is_self_contained_with_two_plots() -> None:
    page = FORMATS["html"](_report())
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    assert "<script" not in page and "<link" not in page and "src=" not in page
    # Only namespace declarations name a URL; nothing is fetched.
    assert set(re.findall(r'="(https?://[^"]+)"', page)) == {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    assert "Hà Nội" in page and "Cao Bằng" in page  # provinces, highest and lowest
    assert page == FORMATS["html"](_report())  # identical data, identical file
