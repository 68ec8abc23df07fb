"""swegym_results: a pytest plugin that records exact test outcomes in a file.

Load it with ``python -m pytest -p swegym_results`` (its directory on PYTHONPATH) and set the
environment variable SWEGYM_RESULTS to the output path. Without that variable the plugin does
nothing. The file gets one JSON object per line (UTF-8), appended, each line written with a single
write(2) on an O_APPEND descriptor, so a run that is killed leaves only whole lines (at worst one
cut line at the end):

    {"event":"session","pytest":"8.4.2","python":"3.11.7","pid":12}
    {"event":"collect_error","nodeid":"tests/test_c.py","message":"ImportError: ..."}
    {"event":"collected","count":120}
    {"event":"start","nodeid":"tests/test_a.py::test_b[x y]"}
    {"event":"result","nodeid":"tests/test_a.py::test_b[x y]","status":"PASSED","duration":0.001}
    {"event":"finish","exitstatus":1}

"status" is one of PASSED FAILED SKIPPED ERROR XFAIL XPASS, combined from the setup, call and
teardown phases the way pytest's terminal summary words them: a failing setup or teardown is an
ERROR (even after a passed or failed call), a skip is SKIPPED, an expected failure XFAIL, an
unexpected pass XPASS (a strict xfail that passes is reported failed by pytest: FAILED). A test
with a failed subtest is FAILED, although pytest-subtests and pytest 9 list the test itself as
passed next to the subtest failure. A test rerun by pytest-rerunfailures gets its last try's status.

Only pytest hooks feed it; nothing a test prints reaches the file. Node IDs are pytest's own
``nodeid`` strings. Works with pytest 4.6 to 9.2 and Python 3.7 to 3.13 (keep the syntax plain:
no f-strings, no walrus). Under pytest-xdist only the controller writes (workers' reports are
relayed to it).
"""

import json
import os
import sys

import pytest

RESULTS_ENV = "SWEGYM_RESULTS"
_MAX_MESSAGE = 300

# Bound at import, before any test runs: tests that patch os.write or json.dumps do not reach us.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_os_write = os.write
_os_open = os.open
_os_fstat = os.fstat
_os_close = os.close


class _Recorder(object):
    def __init__(self, config, path):
        self.config = config
        self.path = os.path.abspath(path)
        self.fd = -1
        self.ident = None
        # nodeid -> [status or None, duration, message or None]
        self.pending = {}
        self._open()

    # -- output ------------------------------------------------------------------------------

    def _open(self):
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        self.fd = _os_open(self.path, flags, 0o644)
        st = _os_fstat(self.fd)
        self.ident = (st.st_dev, st.st_ino)

    def _ours(self):
        # A test may close descriptors it does not own (daemonising code does), and the number
        # may then be reused for another file: check that the descriptor is still our file.
        try:
            st = _os_fstat(self.fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.ident

    def write(self, record):
        try:
            text = _encode(record) + "\n"
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates (undecodable file names)
                data = text.encode("utf-8", "backslashreplace")
            if not self._ours():
                self._open()
            view = memoryview(data)
            while view:
                n = _os_write(self.fd, view)
                view = view[n:]
        except Exception as exc:  # never break the test run because of the record
            try:
                sys.stderr.write("swegym_results: cannot write %s: %r\n" % (self.path, exc))
            except Exception:
                pass

    def close(self):
        if self.fd >= 0 and self._ours():
            try:
                _os_close(self.fd)
            except OSError:
                pass
        self.fd = -1

    # -- outcome of one phase report ---------------------------------------------------------

    def _category(self, report):
        """pytest's own category for a phase report, as the terminal summary counts it."""
        try:
            res = self.config.hook.pytest_report_teststatus(report=report, config=self.config)
            if res:
                category = res[0]
                if isinstance(category, str):
                    return category
        except Exception:
            pass
        return None

    def _status(self, report):
        """PASSED/FAILED/... for a phase report; "" for a passed setup/teardown; None to ignore."""
        category = self._category(report)
        if category == "rerun":  # pytest-rerunfailures: the test runs again, forget this try
            return "RERUN"
        mapped = {
            "passed": "PASSED",
            "failed": "FAILED",
            "error": "ERROR",
            "skipped": "SKIPPED",
            "xfailed": "XFAIL",
            "xpassed": "XPASS",
        }.get(category)
        if mapped is None:
            # Unknown or missing category (plugins can add their own): derive it like pytest.
            wasxfail = hasattr(report, "wasxfail")
            if report.skipped:
                mapped = "XFAIL" if wasxfail else "SKIPPED"
            elif report.failed:
                mapped = "FAILED" if report.when == "call" else "ERROR"
            elif report.passed:
                if report.when != "call":
                    mapped = ""
                else:
                    mapped = "XPASS" if wasxfail else "PASSED"
            else:
                return None
        if report.when != "call" and mapped == "PASSED":
            mapped = ""
        if report.when != "call" and mapped == "FAILED":
            mapped = "ERROR"
        return mapped

    # -- hooks -------------------------------------------------------------------------------

    def pytest_runtest_logstart(self, nodeid, location):
        self.pending[nodeid] = [None, 0.0, None]
        self.write({"event": "start", "nodeid": nodeid})

    def pytest_runtest_logreport(self, report):
        state = self.pending.get(report.nodeid)
        if state is None:
            state = self.pending[report.nodeid] = [None, 0.0, None]
        status = self._status(report)
        try:
            state[1] += float(getattr(report, "duration", 0.0) or 0.0)
        except Exception:
            pass
        if status is None or status == "":
            return
        if status == "RERUN":
            state[0] = None
            state[2] = None
            return
        when = report.when
        current = state[0]
        if when == "setup":
            state[0] = status
        elif when == "call":
            # Several call reports for one test (pytest-subtests): a failure sticks.
            if current not in ("ERROR", "FAILED"):
                state[0] = status
        else:  # teardown
            if status == "ERROR" or current is None:
                state[0] = status
        if status in ("ERROR", "FAILED") and state[2] is None:
            state[2] = _message(report)

    def pytest_runtest_logfinish(self, nodeid, location):
        self._emit(nodeid)

    def _emit(self, nodeid):
        state = self.pending.pop(nodeid, None)
        if state is None or state[0] is None:
            return
        record = {"event": "result", "nodeid": nodeid, "status": state[0], "duration": round(state[1], 6)}
        if state[2]:
            record["message"] = state[2]
        self.write(record)

    def pytest_collectreport(self, report):
        if report.failed:
            nodeid = report.nodeid or str(getattr(report, "fspath", "") or "")
            self.write({"event": "collect_error", "nodeid": nodeid, "message": _message(report)})

    def pytest_collection_finish(self, session):
        try:
            self.write({"event": "collected", "count": len(session.items)})
        except Exception:
            pass

    def pytest_internalerror(self, excrepr, excinfo):
        self.write({"event": "internal_error", "message": _first_line(str(excrepr))})

    # Run after other plugins' sessionfinish (they may still change session.exitstatus).
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        # Results whose logfinish never came (should not happen; an interrupted test has none).
        for nodeid in list(self.pending):
            self._emit(nodeid)
        status = getattr(session, "exitstatus", exitstatus)
        try:
            status = int(status)
        except Exception:
            status = -1
        self.write({"event": "finish", "exitstatus": status})


def _first_line(text):
    text = text.strip()
    line = text.split("\n", 1)[0] if text else ""
    return line[:_MAX_MESSAGE]


def _message(report):
    """A short reason: the crash line of the exception, or the last line of the report text."""
    try:
        longrepr = report.longrepr
        crash = getattr(longrepr, "reprcrash", None)
        if crash is not None and getattr(crash, "message", None):
            return _first_line(crash.message)
        if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, line, reason)
            return _first_line(str(longrepr[2]))
        text = str(longrepr or "").strip()
        lines = [ln for ln in text.split("\n") if ln.strip()]
        for ln in reversed(lines):  # collection errors: "E   ModuleNotFoundError: ..."
            if ln.startswith("E "):
                return _first_line(ln[1:])
        return _first_line(lines[-1]) if lines else ""
    except Exception:
        return ""


def pytest_configure(config):
    if hasattr(config, "workerinput") or hasattr(config, "slaveinput"):
        return  # an xdist worker: the controller records the relayed reports
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    try:
        recorder = _Recorder(config, path)
    except Exception as exc:
        sys.stderr.write("swegym_results: cannot open %s: %r\n" % (path, exc))
        return
    recorder.write(
        {
            "event": "session",
            "pytest": getattr(pytest, "__version__", "?"),
            "python": "%d.%d.%d" % sys.version_info[:3],
            "pid": os.getpid(),
        }
    )
    config._swegym_results = recorder
    config.pluginmanager.register(recorder, "swegym_results_recorder")


def pytest_unconfigure(config):
    recorder = getattr(config, "_swegym_results", None)
    if recorder is not None:
        recorder.close()
