//! What one validation run puts into its container, runs, and reads back.
//!
//! Everything the run decides is written to files under [`DIR`] (exit codes, the structured
//! results, timings), never read from the container's stdout: whatever a test prints cannot pass
//! for a result.

use crate::diff::{touched_test_files, Patch};
use crate::docker::sh_quote;
use crate::recipe::{EnvSpec, TestSelection};
use crate::testlog::plugin::{run_lines, PLUGIN_MODULE, PLUGIN_SOURCE};

/// Inputs and outputs of a run live here inside the container.
pub const DIR: &str = "/tmp/swegym-validate";

/// Which phase a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Phase {
    /// `test_patch` only.
    Before,
    /// `test_patch` + the gold `patch`.
    After,
}

impl Phase {
    /// `before` or `after`, as stored and in log file names.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How the tests an instance touches are selected: arguments appended to the test command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub args: Vec<String>,
    /// What was selected, for messages (`2 files`, `3 cases`).
    pub what: String,
}

/// The selection for an instance, or `None` when its test patch touches nothing runnable.
pub fn select_tests(spec: &EnvSpec, test_patch: &str) -> Option<Selection> {
    match spec.test_selection {
        TestSelection::Files => {
            let deleted = deleted_files(test_patch);
            let files: Vec<String> =
                touched_test_files(test_patch).into_iter().filter(|f| !deleted.contains(f)).collect();
            if files.is_empty() {
                return None;
            }
            let what = format!("{} file{}", files.len(), if files.len() == 1 { "" } else { "s" });
            Some(Selection { args: files, what })
        }
        TestSelection::MypyCases | TestSelection::MypyCasesMentioned => {
            let cases = mypy_cases(test_patch, spec.test_selection == TestSelection::MypyCasesMentioned);
            if cases.is_empty() {
                return None;
            }
            let what = format!("{} case{}", cases.len(), if cases.len() == 1 { "" } else { "s" });
            Some(Selection { args: vec!["-k".into(), cases.join(" or ")], what })
        }
    }
}

/// Files a patch deletes: they cannot be run.
fn deleted_files(patch: &str) -> Vec<String> {
    Patch::parse(patch).files().iter().filter(|f| f.is_deleted()).filter_map(|f| f.path()).map(str::to_string).collect()
}

/// The `[case NAME]` blocks a mypy test patch adds or changes — or, with `mentioned`, every one
/// its hunks name, context and removed lines included (SWE-Gym's rule) — without their flag
/// suffixes (`-skip`, `-xfail`, `-writescache` …), in order of appearance.
pub fn mypy_cases(test_patch: &str, mentioned: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in test_patch.lines() {
        // Without `mentioned`, added case headers only: a context line names a case the patch
        // did not change.
        let body = match line.as_bytes().first() {
            Some(b'+') if !line.starts_with("+++") => &line[1..],
            Some(b' ' | b'-') if mentioned && !line.starts_with("---") => &line[1..],
            _ => continue,
        };
        let Some(rest) = body.strip_prefix("[case ") else { continue };
        let Some(name) = rest.strip_suffix(']') else { continue };
        let mut name = name.trim();
        while let Some((head, flag)) = name.rsplit_once('-') {
            if !flag.is_empty() && flag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !head.is_empty() {
                name = head;
            } else {
                break;
            }
        }
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// The files and script of one run.
pub struct RunPlan {
    pub script: String,
    pub files: Vec<(String, Vec<u8>)>,
    pub collect: Vec<String>,
}

/// Result files read back after a run.
pub mod out {
    pub const APPLY_TEST_RC: &str = "apply_test.rc";
    pub const APPLY_TEST_OUT: &str = "apply_test.out";
    pub const APPLY_GOLD_RC: &str = "apply_gold.rc";
    pub const APPLY_GOLD_OUT: &str = "apply_gold.out";
    pub const RESULTS: &str = "results.jsonl";
    pub const TEST_LOG: &str = "test.log";
    pub const TEST_RC: &str = "test.rc";
    pub const T0: &str = "t0";
    pub const T1: &str = "t1";
}

/// The run of `phase` number `run` (1-based; also its `PYTHONHASHSEED`, so a test that depends on
/// hash order shows up as flaky and a re-validation repeats the same runs).
pub fn plan(
    spec: &EnvSpec,
    selection: &Selection,
    test_patch: &str,
    gold_patch: &str,
    phase: Phase,
    run: u32,
) -> RunPlan {
    let mut files = vec![
        (format!("{DIR}/test.patch"), test_patch.as_bytes().to_vec()),
        (format!("{DIR}/{PLUGIN_MODULE}.py"), PLUGIN_SOURCE.as_bytes().to_vec()),
    ];
    if phase == Phase::After {
        files.push((format!("{DIR}/gold.patch"), gold_patch.as_bytes().to_vec()));
    }
    let args: Vec<String> = selection.args.iter().map(|a| sh_quote(a)).collect();
    let command = format!("{} {}\n", spec.test_cmd, args.join(" "));
    files.push((format!("{DIR}/command.sh"), command.into_bytes()));

    let mut s = format!("set -u\ncd /testbed\nD={DIR}\n");
    s.push_str(&format!(
        "git apply --whitespace=nowarn -v $D/test.patch > $D/{} 2>&1; rc=$?; echo $rc > $D/{}; [ $rc = 0 ] || exit 0\n",
        out::APPLY_TEST_OUT,
        out::APPLY_TEST_RC
    ));
    if phase == Phase::After {
        s.push_str(&format!(
            "git apply --whitespace=nowarn -v $D/gold.patch > $D/{} 2>&1; rc=$?; echo $rc > $D/{}; [ $rc = 0 ] || exit 0\n",
            out::APPLY_GOLD_OUT,
            out::APPLY_GOLD_RC
        ));
    }
    s.push_str(&run_lines(run, out::RESULTS, out::TEST_LOG, out::TEST_RC, out::T0, out::T1));
    let collect = [
        out::APPLY_TEST_RC,
        out::APPLY_TEST_OUT,
        out::APPLY_GOLD_RC,
        out::APPLY_GOLD_OUT,
        out::RESULTS,
        out::TEST_LOG,
        out::TEST_RC,
        out::T0,
        out::T1,
    ]
    .iter()
    .map(|f| format!("{DIR}/{f}"))
    .collect();
    RunPlan { script: s, files, collect }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(selection: TestSelection) -> EnvSpec {
        EnvSpec {
            versions: crate::recipe::VersionRange::any(),
            python: crate::recipe::PythonVersion(3, 11),
            system_packages: vec![],
            pre_install: vec![],
            install: vec![],
            packages: vec![],
            instance_install: vec![],
            test_cmd: "pytest -rA".into(),
            test_selection: selection,
            env_vars: Default::default(),
        }
    }

    const MYPY_PATCH: &str = "diff --git a/test-data/unit/check-classes.test b/test-data/unit/check-classes.test\n\
--- a/test-data/unit/check-classes.test\n+++ b/test-data/unit/check-classes.test\n@@ -10,3 +10,12 @@\n \
[case testExisting]\n x = 1\n+[case testNewThing]\n+y = 2\n+[case testOther-skip]\n+[case testNewThing]\n+[case testPosix-posix-xfail]\n";

    #[test]
    fn mypy_cases_are_added_names_without_flags_once() {
        assert_eq!(mypy_cases(MYPY_PATCH, false), vec!["testNewThing", "testOther", "testPosix"]);
        let sel = select_tests(&spec(TestSelection::MypyCases), MYPY_PATCH).unwrap();
        assert_eq!(sel.args, vec!["-k".to_string(), "testNewThing or testOther or testPosix".into()]);
    }

    #[test]
    fn mypy_cases_mentioned_also_takes_context_and_removed_lines_as_swegym_does() {
        let patch = format!("{MYPY_PATCH}-[case testGone]\n");
        assert_eq!(
            mypy_cases(&patch, true),
            vec!["testExisting", "testNewThing", "testOther", "testPosix", "testGone"]
        );
        let sel = select_tests(&spec(TestSelection::MypyCasesMentioned), &patch).unwrap();
        assert_eq!(sel.what, "5 cases");
    }

    #[test]
    fn deleted_test_files_are_not_selected() {
        let patch = "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n@@ -1 +1 @@\n-x\n+y\n\
diff --git a/tests/test_old.py b/tests/test_old.py\ndeleted file mode 100644\n--- a/tests/test_old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n";
        let sel = select_tests(&spec(TestSelection::Files), patch).unwrap();
        assert_eq!(sel.args, vec!["tests/test_a.py".to_string()]);
        assert_eq!(sel.what, "1 file");
    }

    #[test]
    fn a_test_patch_without_python_tests_selects_nothing() {
        let patch = "diff --git a/tests/data.json b/tests/data.json\n--- a/tests/data.json\n+++ b/tests/data.json\n@@ -1 +1 @@\n-x\n+y\n";
        assert!(select_tests(&spec(TestSelection::Files), patch).is_none());
    }

    #[test]
    fn after_phase_applies_the_gold_patch_and_seeds_the_hash_by_run() {
        let sel = Selection { args: vec!["tests/test a.py".into()], what: "1 file".into() };
        let p = plan(&spec(TestSelection::Files), &sel, "T", "G", Phase::After, 2);
        assert!(p.script.contains("gold.patch"));
        assert!(p.script.contains("PYTHONHASHSEED=2"));
        let cmd = p.files.iter().find(|(n, _)| n.ends_with("command.sh")).unwrap();
        assert_eq!(String::from_utf8_lossy(&cmd.1), "pytest -rA 'tests/test a.py'\n");
        let before = plan(&spec(TestSelection::Files), &sel, "T", "G", Phase::Before, 1);
        assert!(!before.script.contains("gold.patch"));
        assert!(!before.files.iter().any(|(n, _)| n.ends_with("gold.patch")));
    }
}
