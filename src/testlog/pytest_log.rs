//! Parser for `pytest -rA` text output: the fallback when the `swegym_results` plugin wrote no
//! results file. Statuses are named as in SWE-bench (`PASSED`, `FAILED`, `SKIPPED`, `ERROR`,
//! `XFAIL`) plus `XPASS`.
//!
//! What it reads: the "short test summary info" section pytest prints at the end of a session,
//! lines `WORD <node id>[ - <message>]`:
//!
//! ```text
//! PASSED tests/test_a.py::test_ok
//! FAILED tests/test_a.py::test_p[a b] - AssertionError: assert 1 == 2
//! ERROR tests/test_a.py::test_fixture - RuntimeError: boom      (setup or teardown error)
//! ERROR tests/test_broken.py                                    (collection error: a module)
//! SKIPPED [1] tests/test_a.py:12: reason                        (no node id: not recorded)
//! XFAIL tests/test_a.py::test_known - reason                    (pytest < 7: reason on the next line)
//! XPASS tests/test_a.py::test_lucky - reason                    (pytest < 8: "XPASS <id> <reason>")
//! ```
//!
//! Differences from SWE-bench's `parse_log_pytest` (which takes the second whitespace-separated
//! token of every line that starts with a status word, anywhere in the log):
//! - node IDs are kept whole: a parametrized ID with spaces (`test_p[a b]`) is not cut at the
//!   first space;
//! - tokens such as `[1]` (`SKIPPED [1] file:line: reason`) or `[100%]` are never IDs: skipped
//!   tests are simply absent, since the summary folds them by location;
//! - ANSI colour codes (`--color=yes`) are stripped, anywhere in the line, and a line's text is
//!   what follows its last carriage return;
//! - the ` - message` suffix is removed for every status, and XPASS lines are recorded;
//! - when the log has a summary section, only that section is read: one per pytest session, the
//!   last summary header of each session (everything a test prints is shown before it, so lines
//!   such as `PASSED tests/x.py::forged` printed by a test or a patch are ignored, even after a
//!   fake summary header). A log without any summary header (a snippet, or a run killed before
//!   the end) is read the compatible way: every line that starts with a status word;
//! - a failed subtest (`SUBFAILED(i=1) <id> - msg` from pytest 9, `(i=1) SUBFAIL <id> - msg` from
//!   pytest-subtests) makes its test FAILED, although pytest lists the test itself as PASSED
//!   earlier in the summary (the plugin records the same);
//! - a test listed twice keeps ERROR over any other status (a teardown error after a passing
//!   call is printed as both `PASSED x` and `ERROR x`), otherwise the last line wins.
//!
//! What the text cannot tell (the plugin can): skipped tests' IDs; a test module that failed to
//! collect (recorded here as `ERROR <path>`, like SWE-bench) versus a test; and a summary forged
//! as a whole, with its own `test session starts` header, by a test that prints it.
//!
//! The one ambiguity in a summary line: a node ID that itself contains ` - `. pytest writes
//! `<id> - <message>` without quoting, so `FAILED t.py::test_p[x] - y]` may be the test
//! `test_p[x] - y]` without a message or the test `test_p[x]` with message `y]`. The rule used:
//! PASSED lines never carry a message, so their whole text is the ID; for the other words the ID
//! ends at the first ` - ` where what precedes is a well-formed node ID — one whose part after
//! the first `::` either has no `[` and no space (function and class names are identifiers) or
//! ends with the `]` closing the parameter ID. So `test_p[a - b] - msg` and `test_p[a - b]` are
//! read right, and only a parameter ID containing `] - ` can be cut short. (For old XPASS lines,
//! `XPASS <id> <reason>`, a space is also a possible end, with the same rule.)

use std::borrow::Cow;

use super::{TestReport, TestStatus};

const WORDS: [(&str, TestStatus); 6] = [
    ("PASSED", TestStatus::Passed),
    ("FAILED", TestStatus::Failed),
    ("ERROR", TestStatus::Error),
    ("SKIPPED", TestStatus::Skipped),
    ("XFAIL", TestStatus::XFail),
    ("XPASS", TestStatus::XPass),
];

/// Test statuses from `pytest -rA` output (see the module documentation for the rules).
pub fn parse_log(log: &str) -> TestReport {
    let mut entries = Vec::new();
    let sections = summary_sections(log);
    if sections.is_empty() {
        for raw in log.split('\n') {
            if may_be_entry(raw) {
                push_entry(&mut entries, clean(raw));
            }
        }
    }
    for start in sections {
        for raw in log[start..].split('\n') {
            let line = clean(raw);
            if line.starts_with('=') {
                break; // the closing "== 3 passed in 0.1s ==" line, or the next section
            }
            push_entry(&mut entries, line);
        }
    }
    into_report(entries)
}

fn push_entry<'a>(entries: &mut Vec<(Cow<'a, str>, TestStatus)>, line: Cow<'a, str>) {
    match line {
        Cow::Borrowed(line) => {
            if let Some((status, id)) = parse_line(line) {
                entries.push((Cow::Borrowed(id), status));
            }
        }
        Cow::Owned(line) => {
            if let Some((status, id)) = parse_line(&line) {
                entries.push((Cow::Owned(id.to_owned()), status));
            }
        }
    }
}

/// Entries in log order to a report: for an ID listed more than once, ERROR sticks, otherwise
/// the last status wins. (One sort and a bulk build: much cheaper than a map lookup per line.)
fn into_report(mut entries: Vec<(Cow<'_, str>, TestStatus)>) -> TestReport {
    entries.sort_by(|a, b| a.0.cmp(&b.0)); // stable: equal IDs stay in log order
    let mut merged: Vec<(String, TestStatus)> = Vec::with_capacity(entries.len());
    for (id, status) in entries {
        match merged.last_mut() {
            Some((last, old)) if **last == *id => {
                if *old != TestStatus::Error {
                    *old = status;
                }
            }
            _ => merged.push((id.into_owned(), status)),
        }
    }
    merged.into_iter().collect()
}

/// One `WORD <id>[ - message]` line of the short test summary: its status and node ID. `None`
/// for other lines, for lines without an ID (`SKIPPED [1] file:line: reason`, `PASSED [100%]`).
/// `line` must already be cleaned of colour codes.
pub fn parse_line(line: &str) -> Option<(TestStatus, &str)> {
    let Some(&(word, status)) = WORDS.iter().find(|(w, _)| line.starts_with(w)) else {
        return subtest_failure(line).map(|id| (TestStatus::Failed, id));
    };
    // Byte tests rather than char patterns: this runs for every summary line.
    let blank = |b: u8| b == b' ' || b == b'\t';
    let after = &line.as_bytes()[word.len()..];
    let skip = after.iter().position(|&b| !blank(b)).unwrap_or(after.len());
    if skip == 0 {
        return None; // "PASSEDx", or the word alone
    }
    let rest = line[word.len() + skip..].trim_end();
    if matches!(rest.as_bytes().first(), None | Some(b'[' | b'(')) {
        return None;
    }
    let id = if status == TestStatus::Passed { rest } else { split_id(rest, status == TestStatus::XPass) };
    Some((status, id))
}

/// The test whose subtest failed, from a subtest failure line: that test failed, even where the
/// summary also lists it as `PASSED` (pytest-subtests; pytest 9 for unittest's `subTest`).
/// pytest 9: `SUBFAILED(i=1) <id> - msg`, `SUBFAILED[msg] (i=1) <id> - msg`;
/// pytest-subtests: `(i=1) SUBFAIL <id> - msg`, `[msg] (i=1) SUBFAIL <id> - msg`.
/// The description holds arbitrary text, so the ID is taken after the first `) ` or `] ` (then
/// `SUBFAIL `) that is followed by a well-formed `path::name` ID.
fn subtest_failure(line: &str) -> Option<&str> {
    let (from, word) = if line.starts_with("SUBFAILED") {
        ("SUBFAILED".len(), "")
    } else if matches!(line.as_bytes().first(), Some(b'(' | b'[')) {
        (1, "SUBFAIL ")
    } else {
        return None;
    };
    let bytes = line.as_bytes();
    for i in from.max(1)..bytes.len() {
        if bytes[i] != b' ' || !matches!(bytes[i - 1], b')' | b']') {
            continue;
        }
        let Some(rest) = line[i + 1..].strip_prefix(word) else { continue };
        let rest = rest.trim_end();
        let id = split_id(rest, false);
        match id.find("::") {
            Some(p) if !id[..p].contains(' ') && well_formed(id, false) => return Some(id),
            _ => {}
        }
    }
    None
}

/// Byte offsets where the summary sections to read begin (just after a summary header): the last
/// summary header of each pytest session.
fn summary_sections(log: &str) -> Vec<usize> {
    let mut sections = Vec::new();
    let mut last_header: Option<usize> = None;
    let mut offset = 0;
    for raw in log.split('\n') {
        let next = (offset + raw.len() + 1).min(log.len());
        if matches!(raw.as_bytes().first(), Some(b'=' | 0x1b)) {
            let line = clean(raw);
            if line.starts_with('=') {
                if line.contains(" short test summary info ") {
                    last_header = Some(next);
                } else if line.contains(" test session starts ") {
                    sections.extend(last_header.take());
                }
            }
        }
        offset = next;
    }
    sections.extend(last_header);
    sections
}

/// A cheap first-byte test: can this raw line be a status line?
fn may_be_entry(raw: &str) -> bool {
    matches!(raw.as_bytes().first(), Some(b'P' | b'F' | b'E' | b'S' | b'X' | b'(' | b'[' | 0x1b | b'\r'))
}

/// The visible text of a raw line: after its last carriage return, without ANSI escapes.
fn clean(raw: &str) -> Cow<'_, str> {
    let line = raw.trim_end_matches('\r');
    let line = match line.rfind('\r') {
        Some(i) => &line[i + 1..],
        None => line,
    };
    if line.contains('\x1b') {
        Cow::Owned(strip_ansi(line))
    } else {
        Cow::Borrowed(line)
    }
}

/// Removes ANSI escape sequences: CSI (`ESC [ params final`), OSC (`ESC ] ... BEL|ESC \`), nF
/// (`ESC ( B`) and two-byte escapes.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // parameter and intermediate bytes, then one final byte in @..~
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // nF escapes such as `ESC ( B` (character set): intermediates, then a final byte
            Some(c) if ('\x20'..='\x2f').contains(&c) => {
                for c in chars.by_ref() {
                    if ('\x30'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The node ID at the start of `rest` (`<id>[ - <message>]`), see the module documentation.
fn split_id(rest: &str, space_may_end: bool) -> &str {
    let mut first_dash = None;
    for (i, _) in rest.match_indices(' ') {
        let dash = rest[i..].starts_with(" - ");
        if dash && first_dash.is_none() {
            first_dash = Some(i);
        }
        if (dash || space_may_end) && well_formed(&rest[..i], !dash) {
            return &rest[..i];
        }
    }
    match first_dash {
        Some(i) if !well_formed(rest, false) => &rest[..i],
        _ => rest,
    }
}

/// Could `id` be a whole node ID? `path::Name::name[params]`: names are identifiers (no space,
/// no `[`) and a parameter ID, which can hold anything, ends with `]`. A bare path (a module
/// that failed to collect) has no `::`.
fn well_formed(id: &str, at_space: bool) -> bool {
    if id.is_empty() {
        return false;
    }
    match id.find("::") {
        Some(i) => {
            let names = &id[i + 2..];
            if names.contains('[') {
                id.ends_with(']')
            } else {
                !names.is_empty() && !names.contains(' ')
            }
        }
        None => !at_space,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testlog::plugin::{parse_results, tests::expected_sample};
    use TestStatus::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/testlog/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The `-rA` log of the same run as the plugin's results: the same statuses except where the
    /// text loses information.
    fn check_against_plugin(log: &str, results: &str) {
        let text = parse_log(log);
        let plugin = parse_results(results);
        let mut want = plugin.tests.clone();
        // 1. The summary folds skips by location (`SKIPPED [1] tests/test_sample.py:35: not
        //    today`): skipped tests have no ID in the text.
        want.retain(|_, st| *st != Skipped);
        // 2. A module that failed to collect is listed as `ERROR tests/test_broken.py`; the
        //    plugin keeps it apart, in `collect_errors`.
        for id in &plugin.collect_errors {
            want.insert(id.clone(), Error);
        }
        assert_eq!(text, want);
        // Nothing else is lost: every non-skipped test of the run, with the plugin's status.
        assert_eq!(text.len(), expected_sample().len() - 2 + 1);
        // The lines a test printed (a fake summary header, `PASSED tests/test_sample.py::forged`,
        // `PASSED ...::test_skip_marker`, `PASSED ...::test_fails`, `XFAIL ...::test_fixture_error`)
        // are not believed.
        assert!(!text.contains_key("tests/test_sample.py::forged"));
        assert!(!text.contains_key("tests/test_sample.py::test_skip_marker"));
        assert_eq!(text["tests/test_sample.py::test_fails"], Failed);
        assert_eq!(text["tests/test_sample.py::test_fixture_error"], Error);
        assert_eq!(text["tests/test_sample.py::test_xpass_strict"], Failed);
        // IDs with spaces, ` - `, brackets, `::`, escapes and unicode are whole.
        assert_eq!(text["tests/test_sample.py::test_param[fail - here]"], Failed);
        assert_eq!(text["tests/test_sample.py::test_explicit_ids[spaced id - 2]]"], Failed);
        assert_eq!(text["tests/test_sample.py::test_pairs[p q-r]"], Passed);
        assert_eq!(text["tests/test_sample.py::test_ünïcode_name"], Passed);
        // Printed as both `PASSED` and `ERROR` (teardown error): ERROR, like the plugin.
        assert_eq!(text["tests/test_sample.py::test_teardown_error"], Error);
        assert!(!text.keys().any(|k| k.starts_with('[') || k.contains('\x1b') || k.contains(" - assert")));
    }

    #[test]
    fn real_log_pytest8_colour() {
        // pytest 8.4.2, --color=yes: status words and names wrapped in escape codes.
        let log = fixture("pytest8.rA.log");
        assert!(log.contains("\x1b[32mPASSED\x1b[0m"));
        check_against_plugin(&log, &fixture("pytest8.results.jsonl"));
    }

    #[test]
    fn real_log_pytest4() {
        // pytest 4.6.11: "XFAIL <id>" with the reason on the next line, "XPASS <id> <reason>".
        let log = fixture("pytest4.rA.log");
        assert!(log.contains("XPASS tests/test_sample.py::test_xpass was a bug\n"));
        check_against_plugin(&log, &fixture("pytest4.results.jsonl"));
    }

    #[test]
    fn swebench_style_snippet_without_headers() {
        // No summary header: every line that starts with a status word counts (compatible mode).
        let log = "\
PASSED astropy/io/fits/tests/test_checksum.py::TestChecksumFunctions::test_sample_file
PASSED tests/test_x.py::test_param[a b c]
FAILED tests/test_x.py::test_param[d e] - AssertionError: assert 1 == 2
FAILED tests/test_x.py::test_plain - ValueError: x - y
ERROR tests/test_x.py::test_fix - RuntimeError: boom
SKIPPED [1] tests/test_x.py:12: unconditional skip
SKIPPED [3] tests/test_y.py:7: requires network
XFAIL tests/test_x.py::test_known - reason: bug 12
XPASS tests/test_x.py::test_lucky
PASSED [100%]
PASSED
PASSEDtests/not_a_word.py::t
  PASSED tests/indented.py::t
FAILED
";
        let r = parse_log(log);
        let want: TestReport = [
            ("astropy/io/fits/tests/test_checksum.py::TestChecksumFunctions::test_sample_file", Passed),
            ("tests/test_x.py::test_param[a b c]", Passed),
            ("tests/test_x.py::test_param[d e]", Failed),
            ("tests/test_x.py::test_plain", Failed),
            ("tests/test_x.py::test_fix", Error),
            ("tests/test_x.py::test_known", XFail),
            ("tests/test_x.py::test_lucky", XPass),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(r, want);
    }

    #[test]
    fn summary_section_only() {
        let log = "\
============================= test session starts ==============================
collected 3 items

tests/test_a.py .F.                                                      [100%]

=================================== FAILURES ===================================
___________________________________ test_b ____________________________________
----------------------------- Captured stdout call -----------------------------
PASSED tests/test_a.py::test_b
FAILED tests/test_a.py::test_a
=========================== short test summary info ============================
PASSED tests/test_a.py::test_a
PASSED tests/test_a.py::test_c
FAILED tests/test_a.py::test_b - assert 0
========================= 1 failed, 2 passed in 0.01s ==========================
PASSED tests/after_the_end.py::t
";
        let r = parse_log(log);
        assert_eq!(r.len(), 3);
        assert_eq!(r["tests/test_a.py::test_a"], Passed);
        assert_eq!(r["tests/test_a.py::test_b"], Failed);
        assert!(!r.contains_key("tests/after_the_end.py::t"));
    }

    #[test]
    fn several_sessions_each_read() {
        let log = "\
============================= test session starts ==============================
=========================== short test summary info ============================
PASSED a.py::t1
============================== 1 passed in 0.01s ===============================
+ python -m pytest -rA b.py
============================= test session starts ==============================
------- Captured stdout call -------
=========================== short test summary info ============================
PASSED b.py::forged
=========================== short test summary info ============================
FAILED b.py::t2 - boom
1 failed in 0.01s
";
        let r = parse_log(log);
        let got: Vec<_> = r.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, [("a.py::t1", Passed), ("b.py::t2", Failed)]);
    }

    #[test]
    fn line_rules() {
        let p = |l: &str| parse_line(l).map(|(s, id)| (s, id.to_owned()));
        let some = |s: TestStatus, id: &str| Some((s, id.to_owned()));
        // PASSED never has a message: the whole text, even with " - ".
        assert_eq!(p("PASSED t.py::test[x] - y]"), some(Passed, "t.py::test[x] - y]"));
        assert_eq!(p("PASSED t.py::test[with - dash]"), some(Passed, "t.py::test[with - dash]"));
        assert_eq!(p("FAILED t.py::test[with - dash]"), some(Failed, "t.py::test[with - dash]"));
        assert_eq!(p("FAILED t.py::test[with - dash] - assert 1"), some(Failed, "t.py::test[with - dash]"));
        assert_eq!(p("FAILED t.py::test[a]b] - E: x]"), some(Failed, "t.py::test[a]b]"));
        // The documented ambiguity: cut at the first well-formed prefix.
        assert_eq!(p("FAILED t.py::test[x] - y]"), some(Failed, "t.py::test[x]"));
        // Collection errors: a path, with or without a message (which may contain "::").
        assert_eq!(p("ERROR tests/test_b.py"), some(Error, "tests/test_b.py"));
        assert_eq!(p("ERROR tests/test_b.py - ImportError: a::b c"), some(Error, "tests/test_b.py"));
        assert_eq!(p("ERROR tests/my dir/t.py::test_a - E"), some(Error, "tests/my dir/t.py::test_a"));
        // Old XPASS lines: "<id> <reason>".
        assert_eq!(p("XPASS t.py::test_x was a bug"), some(XPass, "t.py::test_x"));
        assert_eq!(p("XPASS t.py::test_p[a b] was a bug"), some(XPass, "t.py::test_p[a b]"));
        assert_eq!(p("XPASS t.py::test_p[a b] - was a bug"), some(XPass, "t.py::test_p[a b]"));
        assert_eq!(p("XFAIL t.py::test_p[a b] - reason: x"), some(XFail, "t.py::test_p[a b]"));
        // Whitespace and junk.
        assert_eq!(p("PASSED\tt.py::test_a  \r"), some(Passed, "t.py::test_a"));
        assert_eq!(p("SKIPPED [2] t.py:3: no"), None);
        assert_eq!(p("SKIPPED (reason) [ 50%]"), None);
        assert_eq!(p("XPASS [100%]"), None);
        assert_eq!(p("PASSED "), None);
        assert_eq!(p("PASSING t.py::x"), None);
        assert_eq!(p("passed t.py::x"), None);
        // Messages after names without brackets; an odd name with spaces falls back to " - ".
        assert_eq!(p("FAILED t.py::Test::test_a - a - b"), some(Failed, "t.py::Test::test_a"));
        assert_eq!(p("FAILED t.py::odd name - msg"), some(Failed, "t.py::odd name"));
    }

    #[test]
    fn failed_subtests_fail_their_test() {
        // Real summaries of tests/test_sub9.py-style tests (unittest subTest, the subtests fixture).
        let pytest9 = "\
=========================== short test summary info ============================
PASSED test_sub9.py::T::test_sub
PASSED test_sub9.py::T::test_sub_ok
SUBFAILED(i=1) test_sub9.py::T::test_sub - AssertionError: 1 == 1
SUBFAILED[case] (i=2) test_sub9.py::test_pytest_subtests - assert 2 != 2
FAILED test_sub9.py::test_pytest_subtests - contains 1 failed subtest
========================= 3 failed, 2 passed in 0.04s ==========================
";
        let plugin_subtests = "\
=========================== short test summary info ============================
PASSED test_sub9.py::T::test_sub
PASSED test_sub9.py::T::test_sub_ok
PASSED test_sub9.py::test_pytest_subtests
(i=1) SUBFAIL test_sub9.py::T::test_sub - AssertionError: 1 == 1
[case] (i=2) SUBFAIL test_sub9.py::test_pytest_subtests - assert 2 != 2
================ 2 failed, 3 passed, 6 subtests passed in 0.06s ================
";
        for log in [pytest9, plugin_subtests] {
            let r = parse_log(log);
            let got: Vec<_> = r.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            assert_eq!(
                got,
                [
                    ("test_sub9.py::T::test_sub", Failed),
                    ("test_sub9.py::T::test_sub_ok", Passed),
                    ("test_sub9.py::test_pytest_subtests", Failed)
                ]
            );
        }
        let p = |l: &str| parse_line(l).map(|(s, id)| (s, id.to_owned()));
        let failed = |id: &str| Some((Failed, id.to_owned()));
        assert_eq!(p("SUBFAILED(x=a) b, y=[1]) t.py::test_p[a b] - E"), failed("t.py::test_p[a b]"));
        assert_eq!(p("SUBFAILED(<subtest>) t.py::T::test_a"), failed("t.py::T::test_a"));
        assert_eq!(p("[m) x] (i=1) SUBFAIL t.py::test_a - E"), failed("t.py::test_a"));
        assert_eq!(p("(i=1) SUBPASS t.py::test_a"), None);
        assert_eq!(p("SUBPASSED(i=1) t.py::test_a"), None);
        assert_eq!(p("(just a line) of output"), None);
    }

    #[test]
    fn ansi_and_carriage_returns() {
        assert_eq!(
            strip_ansi("\x1b[31m\x1b[1mFAILED\x1b[0m a\x1b]8;;http://x\x07b\x1b]8;;\x1b\\c\x1b(B"),
            "FAILED abc"
        );
        let log = "\x1b[1m=== test session starts ===\x1b[0m\n\
                   \x1b[36m\x1b[1m=== short test summary info ===\x1b[0m\n\
                   \x1b[32mPASSED\x1b[0m t.py::\x1b[1mtest_a[x y]\x1b[0m\r\n\
                   progress 50%\r\x1b[31mFAILED\x1b[0m t.py::\x1b[1mtest_b\x1b[0m - \x1b[31massert 0\x1b[0m\r\n\
                   \x1b[31m=== 1 failed, 1 passed ===\x1b[0m\n";
        let r = parse_log(log);
        let got: Vec<_> = r.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, [("t.py::test_a[x y]", Passed), ("t.py::test_b", Failed)]);
    }

    #[test]
    fn error_sticks() {
        let log =
            "ERROR t.py::a - boom\nPASSED t.py::a\nPASSED t.py::b\nFAILED t.py::b\nFAILED t.py::c\nPASSED t.py::c\n";
        let r = parse_log(log);
        assert_eq!((r["t.py::a"], r["t.py::b"], r["t.py::c"]), (Error, Failed, Passed));
        assert!(parse_log("").is_empty());
        assert!(parse_log("=== short test summary info ===").is_empty());
    }
}
