"""Run the example team under pytest-agenttrace and write a report a person can look at.

    python examples/run_demo.py [--out agenttrace-demo]

Runs ``examples/demo/demo_team.py`` (four tickets, three with planted failures:
an out-of-scope tool call, a retry storm, a handoff that loses a key) with
the plugin's specs, saves every trace and writes ``report.html``. The failing
tests are the point of the demo; the script exits 0 when the report was written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
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
    print("demo: (the failing tests above are the planted failures the specs catch)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
