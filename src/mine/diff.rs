//! Splitting a pull request's unified diff into the gold `patch` and the `test_patch`.
//!
//! Each file's block of the diff is kept byte for byte and in order.
//! A file is a test file when one of its path *tokens* — the path split on `/`, `_`, `.` and `-`,
//! lower-cased — is `test`, `tests`, `testing` or `e2e`. SWE-bench's rule is a plain substring test,
//! which sends `src/_pytest/python.py` or `contest.py` to the test patch; the token rule reproduces
//! every SWE-bench Lite split (323 instances, see the integration tests) without those mistakes.
//! Files and their paths are read by [`crate::diff`].

use crate::diff::Patch;

/// The two halves of a pull request's diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitDiff {
    pub patch: String,
    pub test_patch: String,
    /// Paths in `patch`, in order.
    pub patch_files: Vec<String>,
    /// Paths in `test_patch`, in order.
    pub test_files: Vec<String>,
}

/// Whether a repository path belongs to the test patch.
pub fn is_test_path(path: &str) -> bool {
    path.split(['/', '_', '.', '-'])
        .any(|t| matches!(t.to_ascii_lowercase().as_str(), "test" | "tests" | "testing" | "e2e"))
}

/// Routes each file of `diff` by its path, keeping its block verbatim and in order.
/// Text before the first file (there is none in GitHub's diffs) is dropped.
pub fn split_diff(diff: &str) -> SplitDiff {
    let mut out = SplitDiff::default();
    for file in Patch::parse(diff).files() {
        let path = file.path().unwrap_or_default().to_string();
        if is_test_path(&path) {
            out.test_patch.push_str(file.text());
            out.test_files.push(path);
        } else {
            out.patch.push_str(file.text());
            out.patch_files.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/moto/core.py b/moto/core.py\nindex 1..2 100644\n--- a/moto/core.py\n+++ b/moto/core.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/tests/test_core.py b/tests/test_core.py\n--- a/tests/test_core.py\n+++ b/tests/test_core.py\n@@ -1 +1,2 @@\n x\n+diff --git a/fake b/fake\ndiff --git a/docs/index.rst b/docs/index.rst\n--- a/docs/index.rst\n+++ b/docs/index.rst\n@@ -1 +1 @@\n-x\n+y\n";

    #[test]
    fn split_keeps_blocks_verbatim_and_in_order() {
        let s = split_diff(DIFF);
        assert_eq!(s.patch_files, ["moto/core.py", "docs/index.rst"]);
        assert_eq!(s.test_files, ["tests/test_core.py"]);
        assert_eq!(s.patch.len() + s.test_patch.len(), DIFF.len());
        assert!(s.patch.starts_with("diff --git a/moto/core.py"));
        assert!(s.patch.contains("\ndiff --git a/docs/index.rst"));
        assert!(s.test_patch.ends_with("+diff --git a/fake b/fake\n"), "a '+diff' line inside a hunk is content");
    }

    #[test]
    fn test_path_tokens_not_substrings() {
        for p in [
            "tests/a.py",
            "test_requests.py",
            "pkg/testing/x.py",
            "e2e/run.js",
            "a/foo_test.py",
            "Tests/x.py",
            "pkg/test-data/x.txt",
        ] {
            assert!(is_test_path(p), "{p}");
        }
        for p in ["src/_pytest/python.py", "contest.py", "latest.py", "pytest.ini", "docs/testimonials.md"] {
            assert!(!is_test_path(p), "{p}");
        }
    }

    #[test]
    fn empty_and_garbage_diffs_split_to_nothing() {
        assert_eq!(split_diff(""), SplitDiff::default());
        assert_eq!(split_diff("not a diff\n"), SplitDiff::default());
    }
}
