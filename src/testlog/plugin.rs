//! The `swegym_results` pytest plugin and a reader for the file it writes.
//!
//! Inside the container: write [`PLUGIN_SOURCE`] to `<dir>/swegym_results.py`, then run
//! `PYTHONPATH=<dir>:$PYTHONPATH SWEGYM_RESULTS=<file> python -m pytest -p swegym_results ...`.
//! Give every run a fresh `<file>`: the plugin appends (several pytest invocations in one test
//! command all land in it). Without `$SWEGYM_RESULTS` the plugin does nothing.
//!
//! The file is JSON lines (UTF-8), each written with one `write(2)`:
//! `session` (pytest/python versions), `collect_error` (node id of a module or class that failed
//! to collect, and a message), `collected` (count), `start` (a test begins: exact node id),
//! `result` (node id, status combined from setup/call/teardown as pytest's summary does, duration,
//! short message for failures), `finish` (session exit status). See `swegym_results.py`.
//!
//! Tested with pytest 4.6.11 (Python 3.7), 5.4.3 (3.8), 6.2.5 (3.9), 7.4.4 (3.12), 8.4.2 (3.11,
//! 3.13) and 9.2.0 (3.11): identical records for the sample project in
//! `tests/fixtures/testlog/project` (regenerate with `tests/fixtures/testlog/regen.sh`). Also
//! checked by hand with pytest 8.4.2: pytest-xdist 3.8 (only the controller writes; starts and
//! results are relayed; no `collected` record), pytest-rerunfailures 16.7 (one result, the last
//! try's), pytest-timeout 2.4 (signal method: FAILED; thread method exits the process: the hung
//! test is `running`), pytest-subtests 0.15 and pytest 9's own subtests (a failed subtest makes
//! the test FAILED), unittest TestCases and doctests, Ctrl-C (`finish` with exit status 2, the
//! interrupted test `running`), and tests that close the plugin's descriptor, reuse its number,
//! monkeypatch `os.write`/`json.dumps` or remove `$SWEGYM_RESULTS` (records unaffected).

use std::borrow::Cow;

use serde::Deserialize;

use super::{TestReport, TestStatus};

/// Python source of the plugin module.
pub const PLUGIN_SOURCE: &str = include_str!("swegym_results.py");
/// Module name for `pytest -p`.
pub const PLUGIN_MODULE: &str = "swegym_results";
/// File name to write [`PLUGIN_SOURCE`] to (a directory on `PYTHONPATH`).
pub const PLUGIN_FILE: &str = "swegym_results.py";
/// Environment variable with the path of the results file.
pub const RESULTS_ENV: &str = "SWEGYM_RESULTS";

/// Shell lines that run `sh $D/command.sh` under the plugin: the plugin (already at
/// `$D/swegym_results.py`) goes where the environment's own Python finds it, whatever PYTHONPATH
/// the test command sets; `PYTEST_ADDOPTS` loads it in every pytest since 3.0; `PYTHONHASHSEED`
/// is `seed`. Writes, under `$D`: `results` (the records), `log` (everything printed), `rc` (the
/// command's exit code), `t0` and `t1` (start and end, seconds since the epoch). `$D` must be set.
pub fn run_lines(seed: u32, results: &str, log: &str, rc: &str, t0: &str, t1: &str) -> String {
    let m = PLUGIN_MODULE;
    format!(
        "site=$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])' 2>/dev/null) && cp $D/{m}.py \"$site/\" || export PYTHONPATH=\"$D${{PYTHONPATH:+:$PYTHONPATH}}\"\n\
         export {RESULTS_ENV}=$D/{results} PYTEST_ADDOPTS=\"-p {m} ${{PYTEST_ADDOPTS:-}}\" PYTHONHASHSEED={seed}\n\
         date +%s.%N > $D/{t0}\n\
         sh $D/command.sh > $D/{log} 2>&1; echo $? > $D/{rc}\n\
         date +%s.%N > $D/{t1}\n"
    )
}

/// What a results file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultsFile {
    /// Final status of every test that finished.
    pub tests: TestReport,
    /// A test that started and never finished: the one that hung (or was running) when the run
    /// was killed. If several are open (pytest-xdist), the one started first.
    pub running: Option<String>,
    /// Node IDs (modules, classes) that failed to collect, in file order. pytest aborts the whole
    /// run on a collection error unless `--continue-on-collection-errors` is given.
    pub collect_errors: Vec<String>,
    /// Session exit status (pytest's: 0 all passed, 1 tests failed, 2 interrupted, 3 internal
    /// error, 4 usage error, 5 no tests collected). With several sessions in one file: the last
    /// non-zero status, else 0.
    pub exit_status: Option<i32>,
    /// Every session that started also finished (pytest returned normally).
    pub finished: bool,
    /// Lines that are not records: garbage, or a line cut by a kill (at most one, at the end).
    pub bad_lines: usize,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    nodeid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    exitstatus: Option<i64>,
}

/// One line of a results file.
enum Event<'a> {
    Start(Cow<'a, str>),
    /// Node id and status (`None`: a status name we do not know).
    Result(Cow<'a, str>, Option<TestStatus>),
    CollectError(Cow<'a, str>),
    Session,
    Finish(Option<i64>),
    /// Another event: ignored.
    Other,
    /// Not a record, or a record without the fields its event needs.
    Bad,
}

/// Reads a results file. Tolerant: blank lines are skipped; lines that are not JSON records or
/// lack a needed field (a line cut by a kill, garbage) are skipped and counted in `bad_lines`;
/// unknown events and fields are ignored. A test reported twice keeps its last status.
pub fn parse_results(text: &str) -> ResultsFile {
    let mut out = ResultsFile::default();
    let mut results: Vec<(Cow<'_, str>, TestStatus)> = Vec::new();
    // Tests started and not yet finished, oldest first (one at a time without pytest-xdist).
    let mut open: Vec<(Cow<'_, str>, usize)> = Vec::new();
    let mut sessions = 0usize;
    let mut finishes = 0usize;
    let mut rest = text;
    let mut seq = 0usize;
    while !rest.is_empty() {
        let (line, whole) = match rest.find('\n') {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                (line, true)
            }
            None => (std::mem::take(&mut rest), false),
        };
        seq += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        // The plugin writes whole lines; only the last one can be cut: check it strictly.
        let event = match whole.then(|| fast_event(line)).flatten() {
            Some(event) => event,
            None => json_event(line),
        };
        match event {
            Event::Start(id) => match open.iter().rposition(|(o, _)| *o == id) {
                Some(i) => open[i].1 = seq, // started again (pytest-rerunfailures)
                None => open.push((id, seq)),
            },
            Event::Result(id, Some(status)) => {
                if let Some(i) = open.iter().rposition(|(o, _)| *o == id) {
                    open.remove(i);
                }
                results.push((id, status));
            }
            Event::CollectError(id) => out.collect_errors.push(id.into_owned()),
            Event::Session => sessions += 1,
            Event::Finish(status) => {
                finishes += 1;
                let status = status.map(|s| i32::try_from(s).unwrap_or(-1)).unwrap_or(-1);
                out.exit_status = match out.exit_status {
                    Some(prev) if prev != 0 && status == 0 => Some(prev),
                    _ => Some(status),
                };
            }
            Event::Other => {}
            Event::Result(_, None) | Event::Bad => out.bad_lines += 1,
        }
    }
    out.finished = finishes > 0 && finishes >= sessions;
    out.running = open.into_iter().min_by_key(|(_, seq)| *seq).map(|(id, _)| id.into_owned());
    // Last status wins: a stable sort keeps file order among equal IDs, then a bulk build.
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(String, TestStatus)> = Vec::with_capacity(results.len());
    for (id, status) in results {
        match merged.last_mut() {
            Some((last, old)) if **last == *id => *old = status,
            _ => merged.push((id.into_owned(), status)),
        }
    }
    out.tests = merged.into_iter().collect();
    out
}

/// Any JSON record.
fn json_event(line: &str) -> Event<'_> {
    let Ok(rec) = serde_json::from_str::<Record<'_>>(line) else {
        return Event::Bad;
    };
    match (&*rec.event, rec.nodeid) {
        ("start", Some(id)) => Event::Start(id),
        ("result", Some(id)) => Event::Result(id, rec.status.as_deref().and_then(TestStatus::parse)),
        ("collect_error", Some(id)) => Event::CollectError(id),
        ("start" | "result" | "collect_error", None) => Event::Bad,
        ("session", _) => Event::Session,
        ("finish", _) => Event::Finish(rec.exitstatus),
        _ => Event::Other,
    }
}

/// The records as the plugin writes them (`{"event":"start","nodeid":"..."}`,
/// `{"event":"result","nodeid":"...","status":"...",...}`), read without a JSON parser; `None`
/// for anything else (then [`json_event`] reads the line).
fn fast_event(line: &str) -> Option<Event<'_>> {
    let rest = line.strip_prefix("{\"event\":\"")?;
    if !line.ends_with('}') {
        return None;
    }
    let (event, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(",\"nodeid\":")?;
    let (id, rest) = json_string(rest)?;
    match event {
        "start" if rest == "}" => Some(Event::Start(id)),
        "result" => {
            let (status, rest) = rest.strip_prefix(",\"status\":\"")?.split_once('"')?;
            if !rest.starts_with([',', '}']) {
                return None;
            }
            let status = match status {
                "PASSED" => TestStatus::Passed,
                "FAILED" => TestStatus::Failed,
                "SKIPPED" => TestStatus::Skipped,
                "ERROR" => TestStatus::Error,
                "XFAIL" => TestStatus::XFail,
                "XPASS" => TestStatus::XPass,
                _ => return None,
            };
            Some(Event::Result(id, Some(status)))
        }
        _ => None,
    }
}

/// A JSON string at the start of `s`, and what follows it. Borrowed when it has no escapes.
fn json_string(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    // Most IDs have no escapes: two memchr scans.
    let body = &s[1..];
    let quote = body.find('"')?;
    if !body[..quote].contains('\\') {
        return Some((Cow::Borrowed(&body[..quote]), &body[quote + 1..]));
    }
    let mut i = 1;
    let mut escaped = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let text = if escaped {
                    Cow::Owned(serde_json::from_str::<String>(&s[..=i]).ok()?)
                } else {
                    Cow::Borrowed(&s[1..i])
                };
                return Some((text, &s[i + 1..]));
            }
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b if b < 0x20 => return None,
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use TestStatus::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/testlog/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    const T: &str = "tests/test_sample.py::";

    /// What the sample project's run produced, with pytest 4.6 to 9 alike.
    pub(crate) fn expected_sample() -> Vec<(String, TestStatus)> {
        [
            ("test_passes", Passed),
            ("test_fails", Failed),
            ("test_fixture_error", Error),
            ("test_teardown_error", Error),
            ("test_skip_marker", Skipped),
            ("test_skip_inline", Skipped),
            ("test_xfail", XFail),
            ("test_xfail_imperative", XFail),
            ("test_xpass", XPass),
            ("test_xpass_strict", Failed),
            ("test_param[a b]", Passed),
            ("test_param[x[1]]", Passed),
            ("test_param[with - dash]", Passed),
            ("test_param[fail - here]", Failed),
            (r"test_param[caf\xe9]", Passed),
            ("test_param[a::b]", Passed),
            (r"test_param[tab\there]", Passed),
            ("test_param[  lead]", Passed),
            ("test_param[[0]]", Passed),
            ("test_pairs[1-2]", Passed),
            ("test_pairs[p q-r]", Passed),
            ("test_pairs[3-4]", Failed),
            ("test_explicit_ids[spaced id - 1]", Passed),
            ("test_explicit_ids[spaced id - 2]]", Failed),
            ("test_ünïcode_name", Passed),
            ("TestOuter::test_method", Passed),
            ("TestOuter::TestInner::test_nested", Passed),
            ("TestOuter::TestInner::test_nested_param[1]", Passed),
            ("TestOuter::TestInner::test_nested_param[2]", Failed),
            ("test_prints_fake_results", Passed),
            ("test_prints_and_fails", Failed),
        ]
        .into_iter()
        .map(|(name, st)| (format!("{T}{name}"), st))
        .collect()
    }

    fn check_sample(r: &ResultsFile) {
        let got: Vec<(String, TestStatus)> = r.tests.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let mut want = expected_sample();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(r.collect_errors, ["tests/test_broken.py"]);
        assert_eq!(r.exit_status, Some(1));
        assert!(r.finished);
        assert_eq!(r.running, None);
        assert_eq!(r.bad_lines, 0);
        // The forged `PASSED tests/test_sample.py::forged` line printed by a test is not a test.
        assert!(!r.tests.contains_key("tests/test_sample.py::forged"));
    }

    #[test]
    fn sample_run_pytest8() {
        check_sample(&parse_results(&fixture("pytest8.results.jsonl")));
    }

    #[test]
    fn sample_run_pytest4() {
        check_sample(&parse_results(&fixture("pytest4.results.jsonl")));
    }

    #[test]
    fn killed_run_names_the_hanging_test() {
        let r = parse_results(&fixture("killed.results.jsonl"));
        assert_eq!(r.running.as_deref(), Some("hang/test_hang.py::test_hangs_forever"));
        assert_eq!(r.tests.len(), 1);
        assert_eq!(r.tests["hang/test_hang.py::test_before"], Passed);
        assert!(!r.finished);
        assert_eq!(r.exit_status, None);
        assert_eq!(r.bad_lines, 0);
    }

    #[test]
    fn cut_mid_line_names_the_unfinished_test() {
        let text = fixture("pytest8.results.jsonl");
        let id = "tests/test_sample.py::test_param[with - dash]";
        // Keep everything up to and including this test's start record, then half of its result.
        let start = format!("{{\"event\":\"start\",\"nodeid\":\"{id}\"}}\n");
        let at = text.find(&start).unwrap() + start.len();
        let result_line = text[at..].split_inclusive('\n').next().unwrap();
        assert!(result_line.contains("\"result\""));
        let cut = &text[..at + result_line.len() / 2];
        let r = parse_results(cut);
        assert_eq!(r.running.as_deref(), Some(id));
        assert_eq!(r.bad_lines, 1);
        assert!(!r.finished);
        assert_eq!(r.exit_status, None);
        assert_eq!(r.tests.len(), 12);
        assert_eq!(r.tests["tests/test_sample.py::test_param[x[1]]"], Passed);
        assert!(!r.tests.contains_key(id));
        assert_eq!(r.collect_errors, ["tests/test_broken.py"]);

        // Cut right after a start record: still a whole line, nothing bad.
        let r = parse_results(&text[..at]);
        assert_eq!((r.running.as_deref(), r.bad_lines), (Some(id), 0));
        // Cut inside the start record itself: the previous test has finished, nothing runs.
        let r = parse_results(&text[..at - 10]);
        assert_eq!((r.running, r.bad_lines), (None, 1));
    }

    #[test]
    fn garbage_and_odd_records() {
        let text = concat!(
            "{\"event\":\"session\",\"pytest\":\"8.4.2\"}\r\n",
            "not json\n",
            "\n",
            "{\"event\":\"start\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::t\",\"status\":\"WEIRD\"}\n",
            "{\"event\":\"something_new\",\"x\":1}\n",
            "{\"event\":\"start\",\"nodeid\":\"a.py::t[\\u00e9 \\\"q\\\"]\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::t[\\u00e9 \\\"q\\\"]\",\"status\":\"XPASS\",\"extra\":[1,2]}\n",
            "{\"event\":\"start\",\"nodeid\":\"a.py::u\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::u\",\"status\":\"FAILED\"}\n",
            "{\"event\":\"start\",\"nodeid\":\"a.py::u\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::u\",\"status\":\"PASSED\"}\n",
            "{\"event\":\"finish\",\"exitstatus\":0}\n",
        );
        let r = parse_results(text);
        assert_eq!(r.bad_lines, 3);
        assert_eq!(r.tests.len(), 2);
        assert_eq!(r.tests["a.py::t[é \"q\"]"], XPass);
        assert_eq!(r.tests["a.py::u"], Passed, "a rerun test keeps its last status");
        assert_eq!((r.running, r.finished, r.exit_status), (None, true, Some(0)));
    }

    #[test]
    fn other_json_layouts_and_an_unterminated_last_line() {
        let text = concat!(
            "{ \"event\": \"start\", \"nodeid\": \"a.py::t[x\\ty]\" }\n",
            "{\"status\":\"XFAIL\",\"event\":\"result\",\"nodeid\":\"a.py::t[x\\ty]\"}\n",
            "{\"event\":\"start\",\"nodeid\":\"a.py::u\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::u\",\"status\":\"passed\",\"duration\":1e-05}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::v\",\"status\":\"PASSED\"}",
        );
        let r = parse_results(text);
        let got: Vec<_> = r.tests.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, [("a.py::t[x\ty]", XFail), ("a.py::u", Passed), ("a.py::v", Passed)]);
        assert_eq!((r.bad_lines, r.running), (0, None));
        // Fast and JSON readings agree on the fixture, line by line.
        for line in fixture("pytest8.results.jsonl").lines() {
            if let Some(fast) = fast_event(line) {
                let same = match (fast, json_event(line)) {
                    (Event::Start(a), Event::Start(b)) => a == b,
                    (Event::Result(a, s), Event::Result(b, t)) => a == b && s == t,
                    _ => false,
                };
                assert!(same, "{line}");
            }
        }
    }

    #[test]
    fn several_sessions() {
        let text = concat!(
            "{\"event\":\"session\"}\n",
            "{\"event\":\"start\",\"nodeid\":\"a.py::t\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::t\",\"status\":\"FAILED\"}\n",
            "{\"event\":\"finish\",\"exitstatus\":1}\n",
            "{\"event\":\"session\"}\n",
            "{\"event\":\"start\",\"nodeid\":\"b.py::t\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"b.py::t\",\"status\":\"PASSED\"}\n",
            "{\"event\":\"finish\",\"exitstatus\":0}\n",
        );
        let r = parse_results(text);
        assert_eq!((r.finished, r.exit_status, r.tests.len()), (true, Some(1), 2));
        // The second session was killed: not finished.
        let cut = &text[..text.rfind("{\"event\":\"finish\"").unwrap()];
        let r = parse_results(cut);
        assert_eq!((r.finished, r.exit_status), (false, Some(1)));
        assert_eq!(parse_results(""), ResultsFile::default());
    }

    #[test]
    fn several_open_tests_report_the_oldest() {
        let text = concat!(
            "{\"event\":\"start\",\"nodeid\":\"a.py::slow\"}\n",
            "{\"event\":\"start\",\"nodeid\":\"a.py::fast\"}\n",
            "{\"event\":\"result\",\"nodeid\":\"a.py::fast\",\"status\":\"PASSED\"}\n",
            "{\"event\":\"start\",\"nodeid\":\"a.py::other\"}\n",
        );
        assert_eq!(parse_results(text).running.as_deref(), Some("a.py::slow"));
    }

    #[test]
    fn plugin_source_is_embedded() {
        assert!(PLUGIN_SOURCE.contains("def pytest_runtest_logstart"));
        assert!(PLUGIN_SOURCE.contains(&format!("RESULTS_ENV = \"{RESULTS_ENV}\"")));
        assert_eq!(PLUGIN_FILE, format!("{PLUGIN_MODULE}.py"));
        // Plain syntax for Python 3.7 and pytest 4.6: no f-strings, no walrus.
        assert!(!PLUGIN_SOURCE.contains(":="));
        assert!(!PLUGIN_SOURCE.contains("f\""));
    }
}
