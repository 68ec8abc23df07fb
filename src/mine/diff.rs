//! Splitting a pull request's unified diff into the gold `patch` and the `test_patch`.
//!
//! Each file block (from one `diff --git` line to the next) is kept byte for byte and in order.
//! A file is a test file when one of its path *tokens* — the path split on `/`, `_`, `.` and `-`,
//! lower-cased — is `test`, `tests`, `testing` or `e2e`. SWE-bench's rule is a plain substring test,
//! which sends `src/_pytest/python.py` or `contest.py` to the test patch; the token rule reproduces
//! every SWE-bench Lite split (323 instances, see the integration tests) without those mistakes.

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

/// Splits `diff` into file blocks and routes each one by its path.
/// Text before the first `diff --git` line (there is none in GitHub's diffs) is dropped.
pub fn split_diff(diff: &str) -> SplitDiff {
    let mut out = SplitDiff::default();
    for block in file_blocks(diff) {
        let path = block_path(block).unwrap_or_default();
        if is_test_path(&path) {
            out.test_patch.push_str(block);
            out.test_files.push(path);
        } else {
            out.patch.push_str(block);
            out.patch_files.push(path);
        }
    }
    out
}

/// The file blocks of a unified git diff, each starting with `diff --git `.
pub fn file_blocks(diff: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in diff.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut blocks = Vec::with_capacity(starts.len());
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(diff.len());
        blocks.push(&diff[s..e]);
    }
    blocks
}

/// The file's path after the change (`b/…`), or before it for a deletion.
pub fn block_path(block: &str) -> Option<String> {
    let mut lines = block.lines();
    let header = lines.next()?.strip_prefix("diff --git ")?;
    // `+++ b/path` is unambiguous when present (it is absent for renames without edits and binaries).
    for line in lines {
        if line.starts_with("@@") {
            break;
        }
        if let Some(p) = line.strip_prefix("+++ ") {
            if let Some(p) = unquote(p.trim_end_matches('\t')).strip_prefix("b/") {
                return Some(p.to_string());
            }
        }
        if let Some(p) = line.strip_prefix("rename to ") {
            return Some(unquote(p));
        }
    }
    for line in block.lines().skip(1) {
        if line.starts_with("@@") {
            break;
        }
        if let Some(p) = line.strip_prefix("--- ") {
            if let Some(p) = unquote(p.trim_end_matches('\t')).strip_prefix("a/") {
                return Some(p.to_string());
            }
        }
    }
    header_path(header)
}

/// `a/X b/Y` → `Y`. For unquoted paths with spaces, the two halves are equal unless renamed.
fn header_path(header: &str) -> Option<String> {
    if header.starts_with('"') || header.ends_with('"') {
        // Quoted form: `"a/x y" "b/x y"` or mixed.
        let b = header
            .rfind(" \"b/")
            .map(|i| &header[i + 1..])
            .or_else(|| header.rfind(" b/").map(|i| &header[i + 1..]))?;
        return unquote(b).strip_prefix("b/").map(str::to_string);
    }
    let rest = header.strip_prefix("a/")?;
    // Equal halves: "P b/P" has length 2*len(P) + 3.
    if rest.len() >= 3 && (rest.len() - 3) % 2 == 0 {
        let n = (rest.len() - 3) / 2;
        if rest.is_char_boundary(n) && rest[n..].starts_with(" b/") && rest[..n] == rest[n + 3..] {
            return Some(rest[..n].to_string());
        }
    }
    rest.rfind(" b/").map(|i| rest[i + 3..].to_string())
}

/// Git's C-style quoting of unusual paths: `"a/t\303\251st"`.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(b'"') => bytes.push(b'"'),
            Some(b'\\') => bytes.push(b'\\'),
            Some(d @ b'0'..=b'7') => {
                let mut v = u32::from(d - b'0');
                for _ in 0..2 {
                    match it.peek() {
                        Some(&n @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(n - b'0');
                            it.next();
                        }
                        _ => break,
                    }
                }
                bytes.push(u8::try_from(v & 0xff).unwrap_or(b'?'));
            }
            Some(other) => {
                bytes.push(b'\\');
                bytes.push(other);
            }
            None => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
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
    fn paths_with_spaces_quotes_renames_and_deletions() {
        assert_eq!(block_path("diff --git a/my file.py b/my file.py\nnew mode\n").as_deref(), Some("my file.py"));
        assert_eq!(
            block_path("diff --git \"a/t\\303\\251st.py\" \"b/t\\303\\251st.py\"\n").as_deref(),
            Some("tést.py")
        );
        assert_eq!(
            block_path("diff --git a/old.py b/new.py\nsimilarity index 100%\nrename from old.py\nrename to new.py\n")
                .as_deref(),
            Some("new.py")
        );
        assert_eq!(block_path("diff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n").as_deref(), Some("gone.py"));
    }

    #[test]
    fn empty_and_garbage_diffs_split_to_nothing() {
        assert_eq!(split_diff(""), SplitDiff::default());
        assert_eq!(split_diff("not a diff\n"), SplitDiff::default());
    }
}
