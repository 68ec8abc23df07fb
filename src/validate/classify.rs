//! From the statuses of K runs per phase to FAIL_TO_PASS, PASS_TO_PASS, FAIL_TO_FAIL,
//! PASS_TO_FAIL and the flaky tests (FACTS.md "Validation").
//!
//! Per phase, a test is *passing* when every run passed it (PASSED, XFAIL, XPASS), *failing* when
//! no run passed it (failed, errored, skipped or absent), and *flaky* when the runs disagree.
//! A flaky test in either phase is kept out of every list.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::OutcomeLists;
use crate::testlog::{TestReport, TestStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    Flaky,
}

/// Whether each run passed the test; `None` when a run did not report it.
fn verdict(runs: &[TestReport], test: &str) -> (Verdict, Vec<Option<TestStatus>>) {
    let statuses: Vec<Option<TestStatus>> = runs.iter().map(|r| r.get(test).copied()).collect();
    let passes = statuses.iter().filter(|s| s.is_some_and(TestStatus::is_pass)).count();
    let v = if passes == statuses.len() {
        Verdict::Pass
    } else if passes == 0 {
        Verdict::Fail
    } else {
        Verdict::Flaky
    };
    (v, statuses)
}

/// A real failure, not a skip: every run reported it FAILED or ERROR.
fn failed_every_run(statuses: &[Option<TestStatus>]) -> bool {
    !statuses.is_empty() && statuses.iter().all(|s| matches!(s, Some(TestStatus::Failed | TestStatus::Error)))
}

/// Classifies the tests seen in any run. `before` and `after` hold one report per run.
pub fn classify(before: &[TestReport], after: &[TestReport]) -> OutcomeLists {
    let tests: BTreeSet<&String> = before.iter().chain(after).flat_map(|r| r.keys()).collect();
    let mut out = OutcomeLists::default();
    for test in tests {
        let (b, _) = verdict(before, test);
        let (a, after_statuses) = verdict(after, test);
        let present_after = after_statuses.iter().any(Option::is_some);
        match (b, a) {
            (Verdict::Flaky, _) | (_, Verdict::Flaky) => out.flaky.push(test.clone()),
            (Verdict::Fail, Verdict::Pass) => out.fail_to_pass.push(test.clone()),
            (Verdict::Pass, Verdict::Pass) => out.pass_to_pass.push(test.clone()),
            (Verdict::Pass, Verdict::Fail) => out.pass_to_fail.push(test.clone()),
            (Verdict::Fail, Verdict::Fail) if present_after && failed_every_run(&after_statuses) => {
                out.fail_to_fail.push(test.clone())
            }
            // Skipped or absent both times: no signal either way.
            (Verdict::Fail, Verdict::Fail) => {}
        }
    }
    out
}

/// Per test, the statuses of every run, for the detail of a rejection: `test: PASSED,FAILED,…`.
pub fn describe_flaky(before: &[TestReport], after: &[TestReport], flaky: &[String]) -> String {
    let mut lines = BTreeMap::new();
    for t in flaky.iter().take(5) {
        let fmt = |runs: &[TestReport]| {
            runs.iter().map(|r| r.get(t).map_or("absent", |s| s.as_str())).collect::<Vec<_>>().join(",")
        };
        lines.insert(t.clone(), format!("{t}: before {} · after {}", fmt(before), fmt(after)));
    }
    lines.into_values().collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestStatus::*;

    fn report(items: &[(&str, TestStatus)]) -> TestReport {
        items.iter().map(|(t, s)| (t.to_string(), *s)).collect()
    }

    #[test]
    fn lists_follow_the_facts_definitions() {
        let before = vec![
            report(&[("t::p2p", Passed), ("t::f2p", Failed), ("t::p2f", Passed), ("t::f2f", Failed), ("t::xf", XFail)]),
            report(&[("t::p2p", Passed), ("t::f2p", Error), ("t::p2f", Passed), ("t::f2f", Failed), ("t::xf", XFail)]),
        ];
        let after = vec![
            report(&[
                ("t::p2p", Passed),
                ("t::f2p", Passed),
                ("t::p2f", Failed),
                ("t::f2f", Failed),
                ("t::new", Passed),
                ("t::xf", XFail),
            ]),
            report(&[
                ("t::p2p", Passed),
                ("t::f2p", Passed),
                ("t::p2f", Failed),
                ("t::f2f", Failed),
                ("t::new", Passed),
                ("t::xf", XFail),
            ]),
        ];
        let l = classify(&before, &after);
        // A test absent before (added by the test patch, failing to import) counts as failing.
        assert_eq!(l.fail_to_pass, vec!["t::f2p", "t::new"]);
        assert_eq!(l.pass_to_pass, vec!["t::p2p", "t::xf"]);
        assert_eq!(l.pass_to_fail, vec!["t::p2f"]);
        assert_eq!(l.fail_to_fail, vec!["t::f2f"]);
        assert!(l.flaky.is_empty());
    }

    #[test]
    fn a_test_that_differs_between_runs_is_flaky_and_in_no_list() {
        let before = vec![report(&[("t::a", Failed)]), report(&[("t::a", Failed)])];
        let after = vec![report(&[("t::a", Passed)]), report(&[("t::a", Failed)])];
        let l = classify(&before, &after);
        assert_eq!(l.flaky, vec!["t::a"]);
        assert!(l.fail_to_pass.is_empty() && l.fail_to_fail.is_empty());
        let before = vec![report(&[("t::b", Passed)]), report(&[])];
        let after = vec![report(&[("t::b", Passed)]), report(&[("t::b", Passed)])];
        assert_eq!(classify(&before, &after).flaky, vec!["t::b"]);
    }

    #[test]
    fn skipped_after_the_fix_is_not_resolved() {
        // SWE-bench 4.1 counted a skipped FAIL_TO_PASS test as resolved; a skip is no pass.
        let before = vec![report(&[("t::s", Failed)])];
        let after = vec![report(&[("t::s", Skipped)])];
        let l = classify(&before, &after);
        assert!(l.fail_to_pass.is_empty());
        assert!(l.fail_to_fail.is_empty(), "a skip is not a failure either");
    }
}
