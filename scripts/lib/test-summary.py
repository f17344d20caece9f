"""scripts/test's closing report: one row per stage and pass from the JUnit
files CTest's pytest runs wrote, then one line `tests: N passed, M failed`.

usage: test-summary.py "FAILED_CHECKS" --pass LABEL RESULTS_DIR CTEST_STATUS
                       STAGES [--pass ...]

Each pass is one CTest run: LABEL names it ("default", "asan", "tsan"; rows
of a pass other than the default read "v07_static (asan)"), RESULTS_DIR
holds its <stage>.xml files, CTEST_STATUS is ctest's exit status, STAGES
the stages it ran, comma-separated.

Counted as failed: failures, errors, skips (CI skips nothing: a missing
dependency is a failure), a stage without a result file, a failed check
(diff-stages, clang-format, a build), and a CTest failure no result file of
its pass explains (a unit test, a crash before pytest wrote its report).
Expected failures (strict xfail, a stage's declared limitation) count as
passed."""

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

KINDS = ("passed", "xfailed", "failed", "skipped")


def count(xml_path):
    c = dict.fromkeys(KINDS, 0)
    root = ET.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            c["failed"] += 1
        elif "skipped" in kinds:
            xfail = kinds["skipped"].get("type") == "pytest.xfail"
            c["xfailed" if xfail else "skipped"] += 1
        else:
            c["passed"] += 1
    return c


def tally(label, results, stages, total, rows, missing):
    """Adds one pass's rows; returns how many of its stages went wrong."""
    bad_stages = 0
    for stage in stages:
        name = stage if label == "default" else f"{stage} ({label})"
        xml = results / f"{stage}.xml"
        try:
            c = count(xml)
        except (OSError, ET.ParseError) as e:
            missing.append((name, xml))
            rows.append((name, "-", "-", "-", "-",
                         f"no result ({type(e).__name__})"))
            bad_stages += 1
            continue
        for k in KINDS:
            total[k] += c[k]
        bad = c["failed"] or c["skipped"]
        bad_stages += bool(bad)
        rows.append((name, c["passed"], c["xfailed"], c["failed"],
                     c["skipped"], "FAIL" if bad else "ok"))
    return bad_stages


def main(checks, passes):
    rows, missing, unexplained = [], [], []
    total = dict.fromkeys(KINDS, 0)
    for label, results, status, stages in passes:
        bad_stages = tally(label, Path(results), stages, total, rows, missing)
        if status != 0 and not bad_stages:
            unexplained.append(label)

    header = ("stage", "passed", "xfailed", "failed+errors", "skipped", "")
    widths = [max(len(str(r[i])) for r in rows + [header])
              for i in range(len(header))]
    print()
    for r in [header] + rows:
        print("  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                        for i, (v, w) in enumerate(zip(r, widths))).rstrip())

    failed_checks = checks.split()
    for label in unexplained:
        print(f"ctest ({label}) failed outside the stage suites "
              "(see its output above)")
    for check in failed_checks:
        print(f"check failed: {check}")
    for name, xml in missing:
        print(f"no test results for {name} (expected {xml})")

    passed = total["passed"] + total["xfailed"]
    failed = (total["failed"] + total["skipped"] + len(missing)
              + len(failed_checks) + len(unexplained))
    print(f"({total['xfailed']} of the passed are a stage's declared "
          f"limitations failing as expected; skips count as failures)")
    print(f"tests: {passed} passed, {failed} failed")
    any_status = any(status != 0 for _, _, status, _ in passes)
    return 1 if failed or any_status else 0


def parse(argv):
    p = argparse.ArgumentParser(
        description="scripts/test's table of results per stage and pass")
    p.add_argument("checks", help="the failed checks, space-separated")
    p.add_argument("--pass", dest="passes", action="append", nargs=4,
                   required=True,
                   metavar=("LABEL", "RESULTS_DIR", "CTEST_STATUS", "STAGES"))
    args = p.parse_args(argv)
    passes = [(label, results, int(status), stages.split(","))
              for label, results, status, stages in args.passes]
    return args.checks, passes


if __name__ == "__main__":
    sys.exit(main(*parse(sys.argv[1:])))
