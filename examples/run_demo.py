"""Run the example team under pytest-agenttrace and write a report a person can look at.

    python examples/run_demo.py [--out agenttrace-demo]

Runs ``examples/demo/demo_team.py`` (four tickets, three with planted failures:
an out-of-scope tool call, a retry storm, a handoff that loses a key) with
the plugin's specs, saves every trace and writes ``report.html``. The failing
tests are the point of the demo; the script exits 0 when the report was written.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="agenttrace-demo", help="output directory (default: agenttrace-demo)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.html"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(HERE / "demo" / "demo_team.py"),
        "-o",
        "python_files=demo_*.py",
        "-p",
        "no:cacheprovider",
        f"--rootdir={HERE.parent}",
        f"--agenttrace-report={report}",
        "--agenttrace-save",
        f"--agenttrace-dir={out / 'traces'}",
        f"--junitxml={out / 'junit.xml'}",
        "-q",
    ]
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=HERE.parent, check=False)
    if not report.exists():
        print(f"demo: pytest exited {result.returncode} and wrote no report", file=sys.stderr)
        return 1
    traces = sorted((out / "traces").glob("*.json"))
    print()
    print(f"demo: {len(traces)} traces in {out / 'traces'}")
    print(f"demo: open the report: {report}")
    if traces:
        print(f"demo: or look at one in the terminal: agenttrace show {traces[0]}")
    caught = _caught(out / "junit.xml")
    if caught:
        print("demo: the failing tests are the planted failures; the rules that caught them:")
        for test, rules in caught:
            print(f"  {test}: {rules}")
    return 0


#: The first line of a spec failure names the rules that were broken (see CheckResult.format).
_RULES = re.compile(r"violates spec .*\((?P<rules>[^()]*)\)\s*$")


def _caught(junit: Path) -> list[tuple[str, str]]:
    """(test name, the rules its failure names) for each failed test in pytest's JUnit XML."""
    if not junit.exists():
        return []
    caught = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):  # written by pytest just now
        failure = case.find("failure")
        if failure is None:
            continue
        headline = (failure.get("message") or "").splitlines()[0] if failure.get("message") else ""
        match = _RULES.search(headline)
        caught.append((case.get("name", "?"), match.group("rules") if match else headline))
    return caught


if __name__ == "__main__":
    raise SystemExit(main())
