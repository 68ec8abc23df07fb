//! Test-result readers: the structured report our pytest plugin writes inside the container
//! (exact node IDs), and a `pytest -rA` log parser compatible with SWE-bench's statuses (fallback).
//!
//! - [`plugin`]: `swegym_results`, a pytest plugin (Python source embedded here) that appends one
//!   JSON record per event to the file named by `$SWEGYM_RESULTS`, and [`plugin::parse_results`]
//!   to read it. Node IDs are pytest's own strings; nothing a test prints can reach the file; a
//!   killed run still names the test that was running.
//! - [`pytest_log`]: [`pytest_log::parse_log`] for `pytest -rA` text, for runs without the plugin.
//!   It reads the short test summary only, so it cannot know skipped tests' IDs and can be fooled
//!   by a test that prints a whole fake summary; prefer the plugin.
//!
//! Status names are SWE-bench's (`PASSED`, `FAILED`, ...), plus `XPASS`.

pub mod plugin;
pub mod pytest_log;

use std::fmt;

/// Final outcome of one test, as pytest's terminal summary names it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE", ascii_case_insensitive)]
pub enum TestStatus {
    Passed,
    Failed,
    Skipped,
    /// Failed in setup or teardown (a fixture), or a collection error in the `-rA` text.
    Error,
    /// Expected failure (`xfail` marker or `pytest.xfail()`) that failed.
    #[strum(to_string = "XFAIL", serialize = "xfailed")]
    XFail,
    /// Expected failure that passed. A strict xfail that passes is reported `Failed` by pytest.
    #[strum(to_string = "XPASS", serialize = "xpassed")]
    XPass,
}

impl TestStatus {
    /// Every status.
    pub const ALL: &'static [TestStatus] = <Self as strum::VariantArray>::VARIANTS;

    /// "PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL", "XPASS" (SWE-bench's names).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The names of [`as_str`](Self::as_str), in any case; also pytest's category names
    /// `xfailed`/`xpassed`.
    pub fn parse(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }

    /// Counts as passed for FAIL_TO_PASS/PASS_TO_PASS (PASSED, XFAIL, and non-strict XPASS as pytest reports it as passed).
    pub fn is_pass(self) -> bool {
        matches!(self, TestStatus::Passed | TestStatus::XFail | TestStatus::XPass)
    }
}

impl fmt::Display for TestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// node id → status, ordered
pub type TestReport = std::collections::BTreeMap<String, TestStatus>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for &st in TestStatus::ALL {
            assert_eq!(TestStatus::parse(st.as_str()), Some(st));
            assert_eq!(TestStatus::parse(&st.as_str().to_lowercase()), Some(st));
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{}\"", st.as_str()));
            assert_eq!(serde_json::from_str::<TestStatus>(&format!("\"{st}\"")).unwrap(), st);
        }
        assert_eq!(TestStatus::parse("xfailed"), Some(TestStatus::XFail));
        assert_eq!(TestStatus::parse("XPASSED"), Some(TestStatus::XPass));
        assert_eq!(TestStatus::parse("PASS"), None);
        assert_eq!(TestStatus::parse(""), None);
    }

    #[test]
    fn pass_statuses() {
        let passing: Vec<_> = TestStatus::ALL.iter().copied().filter(|s| s.is_pass()).collect();
        assert_eq!(passing, [TestStatus::Passed, TestStatus::XFail, TestStatus::XPass]);
    }
}
