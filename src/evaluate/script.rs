//! What one evaluation puts into its container, runs, and reads back. As in validation, every
//! decision is written to files under [`DIR`], never read from what the tests print; unlike
//! validation, the `-rA` text is never a fallback: without the plugin's records, no test passed.

use crate::docker::sh_quote;
use crate::testlog::plugin::{run_lines, PLUGIN_MODULE, PLUGIN_SOURCE};

/// Inputs and outputs of an evaluation live here inside the container.
pub const DIR: &str = "/tmp/swegym-eval";

/// Result files read back after a run.
pub mod out {
    /// `git`, `patch` (the fuzzy fallback) or `none` (neither applied).
    pub const APPLIED_WITH: &str = "applied_with";
    pub const APPLY_MODEL_OUT: &str = "apply_model.out";
    pub const APPLY_TEST_RC: &str = "apply_test.rc";
    pub const APPLY_TEST_OUT: &str = "apply_test.out";
    pub const RESULTS: &str = "results.jsonl";
    pub const TEST_LOG: &str = "test.log";
    pub const TEST_RC: &str = "test.rc";
    pub const T0: &str = "t0";
    pub const T1: &str = "t1";
}

/// The files and script of one evaluation.
pub struct EvalPlan {
    pub script: String,
    pub files: Vec<(String, Vec<u8>)>,
    pub collect: Vec<String>,
}

/// The run that applies `model_patch` (already filtered), restores the test files to
/// `base_commit` (HEAD of the instance image) and applies `test_patch` over them, then runs
/// `test_cmd` with `test_args` under the result plugin.
pub fn plan(
    model_patch: &str,
    test_patch: &str,
    test_files: &[String],
    test_cmd: &str,
    test_args: &[String],
) -> EvalPlan {
    let mut files = vec![
        (format!("{DIR}/model.patch"), model_patch.as_bytes().to_vec()),
        (format!("{DIR}/test.patch"), test_patch.as_bytes().to_vec()),
        (format!("{DIR}/{PLUGIN_MODULE}.py"), PLUGIN_SOURCE.as_bytes().to_vec()),
    ];
    let args: Vec<String> = test_args.iter().map(|a| sh_quote(a)).collect();
    files.push((format!("{DIR}/command.sh"), format!("{test_cmd} {}\n", args.join(" ")).into_bytes()));

    let mut s = format!("set -u\ncd /testbed\nD={DIR}\n");
    // The model's patch: `git apply` (all or nothing), else `patch` with fuzz (SWE-bench's
    // fallbacks); whichever applied is recorded. Nothing applied: stop.
    s.push_str(&format!(
        "if [ -s $D/model.patch ]; then\n\
         \x20 if git apply --whitespace=nowarn -v $D/model.patch > $D/{o} 2>&1; then echo git > $D/{w}\n\
         \x20 elif patch --batch --fuzz=5 -p1 -i $D/model.patch >> $D/{o} 2>&1; then echo patch > $D/{w}\n\
         \x20 else echo none > $D/{w}; exit 0; fi\n\
         else echo empty > $D/{w}; fi\n",
        o = out::APPLY_MODEL_OUT,
        w = out::APPLIED_WITH
    ));
    // The instance's test files as they are at base_commit, whatever the model's patch did to
    // them (its hunks on them were dropped already: a second line of defence), then the test
    // patch.
    for f in test_files {
        let q = sh_quote(f);
        s.push_str(&format!(
            "if git cat-file -e HEAD:{q} 2>/dev/null; then git checkout -q HEAD -- {q}; else rm -rf -- {q}; fi\n"
        ));
    }
    s.push_str(&format!(
        "git apply --whitespace=nowarn -v $D/test.patch > $D/{} 2>&1; rc=$?; echo $rc > $D/{}; [ $rc = 0 ] || exit 0\n",
        out::APPLY_TEST_OUT,
        out::APPLY_TEST_RC
    ));
    s.push_str(&run_lines(1, out::RESULTS, out::TEST_LOG, out::TEST_RC, out::T0, out::T1));
    let collect = [
        out::APPLIED_WITH,
        out::APPLY_MODEL_OUT,
        out::APPLY_TEST_RC,
        out::APPLY_TEST_OUT,
        out::RESULTS,
        out::TEST_LOG,
        out::TEST_RC,
        out::T0,
        out::T1,
    ]
    .iter()
    .map(|f| format!("{DIR}/{f}"))
    .collect();
    EvalPlan { script: s, files, collect }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_patch_goes_first_then_base_test_files_then_the_test_patch() {
        let p = plan("M", "T", &["tests/test a.py".into()], "pytest -rA", &["tests/test a.py".into()]);
        let model = p.script.find("git apply --whitespace=nowarn -v $D/model.patch").unwrap();
        let fuzz = p.script.find("patch --batch --fuzz=5 -p1").unwrap();
        let restore = p.script.find("git checkout -q HEAD -- 'tests/test a.py'").unwrap();
        let test = p.script.find("$D/test.patch").unwrap();
        let run = p.script.find("sh $D/command.sh").unwrap();
        assert!(model < fuzz && fuzz < restore && restore < test && test < run, "{}", p.script);
        let cmd = p.files.iter().find(|(n, _)| n.ends_with("command.sh")).unwrap();
        assert_eq!(String::from_utf8_lossy(&cmd.1), "pytest -rA 'tests/test a.py'\n");
        assert!(p.collect.iter().any(|c| c.ends_with("/applied_with")));
    }
}
