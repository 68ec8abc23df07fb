//! Patches cannot buy a reward: the parts of a model patch that could change how tests are run or
//! reported, rather than the code they test, are dropped before the run, and the prediction is
//! marked `tampered` with their paths.
//!
//! Dropped, file by file (a file's whole block of the diff, whichever side names the path):
//! - the files the instance's test patch touches (the tests are the instance's, not the model's);
//! - `conftest.py` anywhere (fixtures and hooks can rewrite reports);
//! - pytest's configuration files: `pytest.ini`, `.pytest.ini`, `pytest.toml`, `.pytest.toml`,
//!   `tox.ini`, `setup.cfg`, `pyproject.toml` (`addopts` can load plugins or deselect tests; the
//!   last three carry other settings too, but nothing in them runs without a reinstall, which an
//!   evaluation does not do, so dropping them whole loses no fix);
//! - `sitecustomize.py`, `usercustomize.py` and `*.pth` files (run at interpreter start).

use crate::diff::Patch;

/// A model patch with the tampering parts taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// What will be applied: the kept files' blocks, byte for byte.
    pub kept: String,
    /// Paths of the dropped files, in patch order.
    pub dropped: Vec<String>,
}

/// Whether a change to `path` could change how the tests run or report, whatever the code does.
pub fn is_protected(path: &str, test_files: &[String]) -> bool {
    let path = path.trim_start_matches("./");
    if test_files.iter().any(|t| t == path) {
        return true;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name,
        "conftest.py"
            | "pytest.ini"
            | ".pytest.ini"
            | "pytest.toml"
            | ".pytest.toml"
            | "tox.ini"
            | "setup.cfg"
            | "pyproject.toml"
            | "sitecustomize.py"
            | "usercustomize.py"
    ) || name.ends_with(".pth")
}

/// Splits `model_patch` into what is applied and what is dropped; `test_files` are the files the
/// instance's test patch touches.
pub fn filter(model_patch: &str, test_files: &[String]) -> Filtered {
    let patch = Patch::parse(model_patch);
    let mut kept = String::new();
    let mut dropped = Vec::new();
    for f in patch.files() {
        let paths: Vec<&str> = [f.old_path(), f.new_path()].into_iter().flatten().collect();
        match paths.iter().find(|p| is_protected(p, test_files)) {
            Some(p) => {
                if !dropped.iter().any(|d| d == p) {
                    dropped.push(p.to_string());
                }
            }
            None => kept.push_str(f.text()),
        }
    }
    if patch.files().is_empty() {
        // Not a diff we can read: applied as given, and `git apply` / `patch` decide.
        kept = model_patch.to_string();
    }
    Filtered { kept, dropped }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = "diff --git a/calc/__init__.py b/calc/__init__.py\n--- a/calc/__init__.py\n+++ b/calc/__init__.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n";

    fn file(path: &str, body: &str) -> String {
        format!(
            "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{body}\n"
        )
    }

    #[test]
    fn every_tampering_route_is_dropped_and_named_and_the_fix_is_kept() {
        let tests = vec!["tests/test_calc.py".to_string()];
        for path in [
            "tests/test_calc.py",
            "conftest.py",
            "tests/conftest.py",
            "pytest.ini",
            "tox.ini",
            "setup.cfg",
            "pyproject.toml",
            "sitecustomize.py",
            "src/usercustomize.py",
            "evil.pth",
        ] {
            let patch = format!("{FIX}{}", file(path, "import os"));
            let f = filter(&patch, &tests);
            assert_eq!(f.dropped, vec![path.to_string()], "{path}");
            assert_eq!(f.kept, FIX, "{path}");
        }
        let clean = filter(FIX, &tests);
        assert_eq!((clean.kept.as_str(), clean.dropped.len()), (FIX, 0));
    }

    #[test]
    fn a_rename_onto_a_protected_path_is_dropped_too() {
        let patch = "diff --git a/helpers.py b/conftest.py\nsimilarity index 100%\nrename from helpers.py\nrename to conftest.py\n";
        assert_eq!(filter(patch, &[]).dropped, vec!["conftest.py".to_string()]);
        assert!(!is_protected("calc/test_helpers.py", &[]));
        assert!(is_protected("./tests/test_calc.py", &["tests/test_calc.py".to_string()]));
    }

    #[test]
    fn text_that_is_not_a_diff_is_passed_on_for_git_to_judge() {
        assert_eq!(filter("not a patch\n", &[]).kept, "not a patch\n");
    }
}
