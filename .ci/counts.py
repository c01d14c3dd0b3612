"""Prints the pytest counts of each backend's run and, last, one line summing them.

Usage: python .ci/counts.py RESULTS_DIR NAME... (reads NAME.xml, pytest's JUnit report, and
NAME.status, its exit status). Exits 1 when a run failed, errored or left no report. The last
line is plain `N passed, N failed, N skipped` because CI reads the last pytest-style summary.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(report: Path) -> dict[str, int]:
    suites = ET.parse(report).getroot()
    suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
    if suite is None:
        raise ValueError(f"{report} holds no testsuite")
    tests, failures, errors, skipped = (
        int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")
    )
    return {
        "passed": tests - failures - errors - skipped,
        "failed": failures + errors,
        "skipped": skipped,
    }


def main(results: Path, names: list[str]) -> int:
    total = {"passed": 0, "failed": 0, "skipped": 0}
    ok = True
    for name in names:
        report, status_file = results / f"{name}.xml", results / f"{name}.status"
        status = status_file.read_text().strip() if status_file.exists() else "missing"
        if not report.exists():
            print(f"{name}: no report (pytest exit status {status})")
            total["failed"] += 1
            ok = False
            continue
        found = counts(report)
        for key, value in found.items():
            total[key] += value
        verdict = "ok" if status == "0" and found["failed"] == 0 else "FAILED"
        ok = ok and verdict == "ok"
        print(
            f"{name}: {found['passed']} passed, {found['failed']} failed, "
            f"{found['skipped']} skipped (pytest exit status {status}) {verdict}"
        )
    print(f"{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
