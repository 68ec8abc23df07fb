#!/usr/bin/env python3
"""Peer benchmark: SWE-bench's `pytest -rA` log parser, timed on a log file.

Imports `parse_log_pytest` from `swebench.harness.log_parsers.python` (swebench 4.1.0) and calls
it on the file's text, as SWE-bench's grading does (`parse_log_pytest(log, test_spec)`; the
function does not use `test_spec`, so None is passed). Nothing of SWE-bench is re-implemented
here: this script reads the file, times the call and reports.

Setup (the same venv as swebench_collect.py):

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install swebench==4.1.0 ghapi==1.0.6 fastcore==1.8.8

Usage (if `swebench` cannot be imported, the script re-runs itself with /tmp/peer-venv/bin/python
or $SWEBENCH_PEER_PYTHON):

    python3 benches/peer/swebench_parse.py --log FILE [--repeat N] [--out MAP.json]

Prints one JSON object on stdout:
    {"tool": "swebench", "version": ..., "function": ..., "bytes": n, "lines": n,
     "seconds": best, "seconds_all": [...], "tests": n, "by_status": {...}}
`--out` writes the parsed {test: status} map of the last call as JSON.
"""

import argparse
import json
import os
import sys
import time

VENV_PYTHON = os.environ.get("SWEBENCH_PEER_PYTHON", "/tmp/peer-venv/bin/python")
FUNCTION = "swebench.harness.log_parsers.python.parse_log_pytest"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()

    try:
        import swebench
        from swebench.harness.log_parsers.python import parse_log_pytest
    except ImportError as exc:
        if not os.environ.get("_SWEGYM_PEER_REEXEC") and os.path.exists(VENV_PYTHON):
            os.environ["_SWEGYM_PEER_REEXEC"] = "1"
            sys.stderr.write("swebench not importable with %s; re-running under %s\n" % (sys.executable, VENV_PYTHON))
            os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
        sys.stderr.write("swebench is not installed (%s)\n" % exc)
        sys.exit(2)

    # SWE-bench's grading reads the log as text the same way.
    with open(args.log, encoding="utf-8", errors="replace") as f:
        log = f.read()

    times = []
    result = {}
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        result = parse_log_pytest(log, None)
        times.append(time.perf_counter() - t0)

    by_status = {}
    for status in result.values():
        by_status[status] = by_status.get(status, 0) + 1
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False)
    print(
        json.dumps(
            {
                "tool": "swebench",
                "version": getattr(swebench, "__version__", "?"),
                "function": FUNCTION,
                "python": sys.version.split()[0],
                "bytes": len(log.encode("utf-8")),
                "lines": log.count("\n"),
                "seconds": min(times),
                "seconds_all": times,
                "tests": len(result),
                "by_status": by_status,
            }
        )
    )


if __name__ == "__main__":
    main()
