//! The SWE-bench Lite criteria (FACTS.md "SWE-bench Lite criteria") as a pure, deterministic filter.
//!
//! An instance is in Lite when its problem statement is self-contained prose of at least
//! [`MIN_PROBLEM_WORDS`] words (no URLs, issue/PR references, 40-hex commit SHAs or images), its gold
//! patch edits exactly one existing file in 1..=[`MAX_PATCH_HUNKS`] hunks, and its test patch does not
//! pin the text of an error or warning message.
//!
//! Deliberate differences from SWE-bench's own filter (all 323 published Lite instances still pass):
//! - Bare `#123` references are recognised without asking GitHub whether the issue exists (the filter
//!   is offline and pure). They count in prose only: fenced code blocks and inline code spans hold
//!   shell prompts, comments and colours, not references. `owner/repo#1`, `GH-1`, issue URLs and
//!   keyword forms (`fixes #1`, `see #1`, `issue #1`) count everywhere.
//! - Every URL counts, including the repository's own (its issue URLs are references anyway).
//! - Images are embedded images (`![…](…)`, `<img`, `<video`, `data:image/`) anywhere, or image/video
//!   file names in prose. A file name inside code (`savefig("out.png")`) is not an image.
//! - Diffs are read by [`crate::diff`], with hunk line counts, so a content line such as
//!   `--- /dev/null` or `@@ x` inside a hunk is never mistaken for a header. Renames and copies count
//!   as adding/removing a file.
//! - Message checks are looked for in added test lines only, and precisely: `pytest.raises`/
//!   `pytest.warns`/`pytest.deprecated_call` calls whose arguments include `match=` (multi-line calls
//!   included), `<excinfo>.match(…)` on a name bound by `pytest.raises(…) as <excinfo>`,
//!   `assertRaisesRegex(p)`, `assertWarnsRegex(p)` and Django's `assertRaisesMessage`.
//!   Calibrated on the reference data: Django's `assertWarnsMessage` (django__django-11905) and
//!   numpy/sklearn's `assert_raises_regex` (scikit-learn__scikit-learn-11040) are in Lite, so they
//!   are not rejected.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::diff::{FileKind, LineKind, Patch};

/// Minimum number of whitespace-separated words in the problem statement.
pub const MIN_PROBLEM_WORDS: usize = 40;
/// Maximum number of hunks in the gold patch (at least one is required).
pub const MAX_PATCH_HUNKS: usize = 3;
/// Part of the stored membership's input hash: bump it when a criterion changes, so every stored
/// membership is computed again.
pub const CRITERIA_VERSION: u32 = 1;
/// Evidence strings are cut to this many characters.
const MAX_EVIDENCE_CHARS: usize = 120;

/// One failed Lite criterion, with the evidence that made it fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
pub enum LiteRejection {
    /// Fewer than [`MIN_PROBLEM_WORDS`] words.
    ProblemTooShort { words: usize },
    /// The first URL found.
    ProblemHasUrl(String),
    /// The first reference to an issue or pull request found.
    ProblemHasIssueReference(String),
    /// The first 40-hex commit SHA found.
    ProblemHasCommitSha(String),
    /// The first embedded image (or image/video file name in prose) found.
    ProblemHasImage(String),
    /// The gold patch does not touch exactly one file.
    #[strum(serialize = "patch_file_count")]
    PatchFiles { files: usize },
    /// The gold patch has no hunk or more than [`MAX_PATCH_HUNKS`].
    #[strum(serialize = "patch_hunk_count")]
    PatchHunks { hunks: usize },
    /// The first file the gold patch adds, deletes, renames or copies.
    PatchAddsOrRemovesFile(String),
    /// The first added test line (or call) that checks a message.
    TestChecksErrorMessage(String),
}

impl LiteRejection {
    /// Every reason code, in criterion order.
    pub const CODES: &'static [&'static str] = <Self as strum::VariantNames>::VARIANTS;

    /// Stable snake_case reason code (one of [`LiteRejection::CODES`]).
    pub fn code(&self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for LiteRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiteRejection::ProblemTooShort { words } => {
                write!(f, "problem statement has {words} words (at least {MIN_PROBLEM_WORDS} required)")
            }
            LiteRejection::ProblemHasUrl(e) => write!(f, "problem statement contains a URL: {e}"),
            LiteRejection::ProblemHasIssueReference(e) => {
                write!(f, "problem statement references an issue or pull request: {e}")
            }
            LiteRejection::ProblemHasCommitSha(e) => {
                write!(f, "problem statement contains a commit SHA: {e}")
            }
            LiteRejection::ProblemHasImage(e) => {
                write!(f, "problem statement contains an image: {e}")
            }
            LiteRejection::PatchFiles { files } => {
                write!(f, "gold patch touches {files} files (exactly 1 required)")
            }
            LiteRejection::PatchHunks { hunks } => {
                write!(f, "gold patch has {hunks} hunks (1 to {MAX_PATCH_HUNKS} required)")
            }
            LiteRejection::PatchAddsOrRemovesFile(e) => {
                write!(f, "gold patch adds or removes a file: {e}")
            }
            LiteRejection::TestChecksErrorMessage(e) => {
                write!(f, "test patch checks an error message: {e}")
            }
        }
    }
}

/// Every criterion the instance fails, in criterion order, one entry per criterion (empty = in Lite).
pub fn lite_rejections(problem_statement: &str, patch: &str, test_patch: &str) -> Vec<LiteRejection> {
    let mut out = Vec::new();

    let words = problem_statement.split_whitespace().count();
    if words < MIN_PROBLEM_WORDS {
        out.push(LiteRejection::ProblemTooShort { words });
    }
    let prose = prose_only(problem_statement);
    if let Some(e) = find_url(problem_statement) {
        out.push(LiteRejection::ProblemHasUrl(e));
    }
    if let Some(e) = find_issue_reference(problem_statement, &prose) {
        out.push(LiteRejection::ProblemHasIssueReference(e));
    }
    if let Some(e) = find_commit_sha(problem_statement) {
        out.push(LiteRejection::ProblemHasCommitSha(e));
    }
    if let Some(e) = find_image(problem_statement, &prose) {
        out.push(LiteRejection::ProblemHasImage(e));
    }

    let gold = Patch::parse(patch);
    if gold.files().len() != 1 {
        out.push(LiteRejection::PatchFiles { files: gold.files().len() });
    }
    let hunks = gold.hunk_count();
    if hunks == 0 || hunks > MAX_PATCH_HUNKS {
        out.push(LiteRejection::PatchHunks { hunks });
    }
    if let Some(f) = gold.files().iter().find(|f| f.kind() != FileKind::Modified) {
        out.push(LiteRejection::PatchAddsOrRemovesFile(evidence(f.path().unwrap_or_default())));
    }

    if let Some(e) = find_message_check(&Patch::parse(test_patch)) {
        out.push(LiteRejection::TestChecksErrorMessage(e));
    }
    out
}

/// An instance's inputs to the criteria, as the store hands them out for judging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteInput {
    pub instance_id: String,
    /// Identifies these inputs: stored with the verdict, so the store can tell when they change.
    pub input_hash: String,
    pub problem_statement: String,
    pub patch: String,
    pub test_patch: String,
}

/// The criteria's verdict on one instance, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteVerdict {
    pub instance_id: String,
    /// [`LiteInput::input_hash`] of the inputs judged.
    pub input_hash: String,
    /// Every failed criterion; empty = in Lite.
    pub rejections: Vec<LiteRejection>,
}

impl LiteInput {
    /// Applies every criterion.
    pub fn judge(self) -> LiteVerdict {
        LiteVerdict {
            rejections: lite_rejections(&self.problem_statement, &self.patch, &self.test_patch),
            instance_id: self.instance_id,
            input_hash: self.input_hash,
        }
    }
}

/// True when the instance meets every Lite criterion.
pub fn is_lite(problem_statement: &str, patch: &str, test_patch: &str) -> bool {
    lite_rejections(problem_statement, patch, test_patch).is_empty()
}

// ---------------------------------------------------------------------------------------------
// Problem statement

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid built-in regex")
}

/// Collapses whitespace and cuts to [`MAX_EVIDENCE_CHARS`] characters.
fn evidence(s: &str) -> String {
    let compact = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if compact.chars().count() <= MAX_EVIDENCE_CHARS {
        compact
    } else {
        let mut cut: String = compact.chars().take(MAX_EVIDENCE_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// The text outside fenced code blocks (``` or ~~~) and inline code spans; code becomes a space so
/// that words on either side stay apart.
fn prose_only(text: &str) -> String {
    static INLINE_CODE: LazyLock<Regex> = LazyLock::new(|| re(r"`[^`\n]*`"));
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|&x| x == c).count());
        match fence {
            Some((c, n)) => {
                if marker == Some(c) && run >= n && trimmed[run..].trim().is_empty() {
                    fence = None;
                }
                out.push('\n');
            }
            None if run >= 3 => {
                fence = marker.map(|c| (c, run));
                out.push('\n');
            }
            None => {
                out.push_str(&INLINE_CODE.replace_all(line, " "));
                out.push('\n');
            }
        }
    }
    out
}

static URL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)\b(?:https?|ftp)://[^\s<>"'`)\]]+|\bwww\.[a-z0-9-]+\.[a-z]{2,}[^\s<>"'`)\]]*|\bgithub\.com/[^\s<>"'`)\]]+"#,
    )
});

fn find_url(text: &str) -> Option<String> {
    URL.find(text).map(|m| evidence(m.as_str()))
}

fn find_issue_reference(text: &str, prose: &str) -> Option<String> {
    // Anywhere, code included.
    static EVERYWHERE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        vec![
            // Issue, pull request and ticket URLs (GitHub, GitLab, Trac, …).
            re(
                r"(?i)\b(?:https?://|www\.)?[\w.-]+\.[a-z]{2,}/\S*?/(?:issues|pull|pulls|merge_requests|ticket)/[1-9]\d*\b",
            ),
            // owner/repo#123
            re(r"\b[A-Za-z0-9][\w.-]*/[\w.-]+#[1-9]\d*\b"),
            // GH-123
            re(r"(?i)\bgh-[1-9]\d*\b"),
            // fixes #123, see #123, issue #123, duplicate of #123, …
            re(
                r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?|see|refs?|references|related(?:\s+to)?|duplicates?(?:\s+of)?|addresse[sd]|follow[- ]?up(?:\s+(?:to|of))?|issues?|prs?|pull\s+requests?|tickets?|bugs?)\s*:?\s*#[1-9]\d*\b",
            ),
        ]
    });
    // Prose only.
    static PROSE: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        vec![
            // A bare #123 after a space or opening punctuation (not `&#123;`, `"#123"`, `a#1`).
            re(r"(?:^|[\s(\[{,;:])(#[1-9]\d*)\b"),
            // issue 1234, PR 1234, pull request no. 1234, ticket 1234 (two digits or more).
            re(r"(?i)\b(?:issues?|prs?|pull\s+requests?|tickets?)\s+(?:no\.?\s*|number\s+)?[1-9]\d+\b"),
        ]
    });
    let found =
        EVERYWHERE.iter().filter_map(|r| r.find(text)).min_by_key(|m| m.start()).map(|m| m.as_str().to_string());
    found
        .or_else(|| {
            PROSE
                .iter()
                .filter_map(|r| r.captures(prose))
                .map(|c| c.get(1).or_else(|| c.get(0)).expect("group 0 exists"))
                .min_by_key(|m| m.start())
                .map(|m| m.as_str().to_string())
        })
        .map(|s| evidence(&s))
}

fn find_commit_sha(text: &str) -> Option<String> {
    static SHA: LazyLock<Regex> = LazyLock::new(|| re(r"\b[0-9a-fA-F]{40}\b"));
    // A run of 40 decimal digits is a number, not a SHA.
    SHA.find_iter(text).map(|m| m.as_str()).find(|s| s.bytes().any(|b| b.is_ascii_alphabetic())).map(str::to_string)
}

fn find_image(text: &str, prose: &str) -> Option<String> {
    static EMBEDDED: LazyLock<Regex> = LazyLock::new(|| {
        // `![alt](src)` or `![alt][ref]` (but not XML's `<![CDATA[`), HTML media, data URIs.
        re(
            r"(?i)(?:^|[^<])(!\[[^\]\n]*\]\s?[(\[][^)\]\n]*[)\]]?)|(<(?:img|video|picture)\b[^>]{0,200}>?)|(data:image/[\w.+-]+)",
        )
    });
    static MEDIA_FILE: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)\b[\w./-]*\w\.(?:png|jpe?g|gif|bmp|tiff?|svg|webp|ico|heic|heif|avif|bpg|mp4|avi|mkv|mov|wmv|flv|webm|mpeg)\b",
        )
    });
    if let Some(c) = EMBEDDED.captures(text) {
        let m = (1..=3).find_map(|i| c.get(i)).expect("one group matches");
        return Some(evidence(m.as_str()));
    }
    MEDIA_FILE.find(prose).map(|m| evidence(m.as_str()))
}

// ---------------------------------------------------------------------------------------------
// Test patch

/// The first message check that an added line introduces.
fn find_message_check(test_patch: &Patch) -> Option<String> {
    static ASSERT_REGEX: LazyLock<Regex> =
        LazyLock::new(|| re(r"\b(?:assertRaisesRegexp?|assertWarnsRegexp?|assertRaisesMessage)\b"));
    static CALL: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?:^|[^\w.])((?:pytest\.)?(?:raises|warns|deprecated_call))\s*\("));
    static MATCH_KWARG: LazyLock<Regex> = LazyLock::new(|| re(r"\bmatch\s*=[^=]"));
    static AS_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*as\s+([A-Za-z_]\w*)"));

    let mut excinfo_names: Vec<String> = Vec::new();
    let mut found: Option<String> = None;
    for hunk in test_patch.files().iter().flat_map(|f| f.hunks()) {
        // The new side (whether added, text), as lines and as one text with the byte offset where
        // each line starts.
        let lines: Vec<(bool, &str)> = hunk
            .lines
            .iter()
            .filter(|l| l.kind != LineKind::Removed)
            .map(|l| (l.kind == LineKind::Added, l.text))
            .collect();
        let mut text = String::new();
        let mut starts = Vec::with_capacity(lines.len());
        for (_, l) in &lines {
            starts.push(text.len());
            text.push_str(l);
            text.push('\n');
        }
        let line_of = |pos: usize| starts.partition_point(|&s| s <= pos).saturating_sub(1);

        if found.is_none() {
            found = lines.iter().find(|(added, l)| *added && ASSERT_REGEX.is_match(l)).map(|(_, l)| evidence(l));
        }
        for c in CALL.captures_iter(&text) {
            let name = c.get(1).expect("group 1");
            let open = c.get(0).expect("group 0").end() - 1;
            let close = matching_paren(&text, open).unwrap_or(text.len());
            let args = &text[open..close.min(text.len())];
            // Bare `raises(` is pytest's only if it takes `match=`; sympy's own `raises` never does.
            if let Some(a) = AS_NAME.captures(text.get(close + 1..).unwrap_or("")) {
                if name.as_str().ends_with("raises") {
                    excinfo_names.push(a[1].to_string());
                }
            }
            if found.is_some() || !MATCH_KWARG.is_match(args) {
                continue;
            }
            let (first, last) = (line_of(name.start()), line_of(close.saturating_sub(1)));
            if lines[first..=last.max(first)].iter().any(|(added, _)| *added) {
                let end = (close + 1).min(text.len());
                found = Some(evidence(&text[name.start()..end]));
            }
        }
    }
    if found.is_some() {
        return found;
    }
    // `excinfo.match(...)` on a name bound by `pytest.raises(...) as excinfo`.
    for name in excinfo_names {
        let call = format!("{name}.match(");
        let hit = test_patch.files().iter().flat_map(|f| f.added_lines()).find(|l| {
            l.match_indices(&call)
                .any(|(i, _)| !l[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.'))
        });
        if let Some(l) = hit {
            return Some(evidence(l));
        }
    }
    None
}

/// The byte offset of the `)` closing the `(` at `open`, skipping string literals.
fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = open;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q || b == b'\n' {
                    // An unterminated literal ends with its line.
                    quote = None;
                }
            }
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(i);
                    }
                }
                b'#' => {
                    // A comment runs to the end of the line.
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_PROBLEM: &str = "DataFrame.groupby with dropna=False loses rows when the key is \
        categorical\nWhen grouping a DataFrame by a categorical column that contains missing values \
        and passing dropna=False, the rows whose key is missing disappear from the result instead \
        of forming their own group. The same call on an object column keeps them, so the behaviour \
        depends on the dtype.\n\n```python\nimport pandas as pd\ndf = pd.DataFrame({'a': pd.Categorical(['x', None]), 'b': [1, 2]})\nprint(df.groupby('a', dropna=False).sum())  # expected two rows\n```\n";

    const GOOD_PATCH: &str = "diff --git a/pandas/core/groupby/grouper.py b/pandas/core/groupby/grouper.py
--- a/pandas/core/groupby/grouper.py
+++ b/pandas/core/groupby/grouper.py
@@ -610,7 +610,7 @@ def codes(self) -> np.ndarray:
         if self._dropna:
             return self._codes
         codes = self._codes.copy()
-        codes[codes == -1] = -1
+        codes[codes == -1] = len(self._uniques)
         return codes
 
     @cache_readonly
";

    const GOOD_TEST_PATCH: &str =
        "diff --git a/pandas/tests/groupby/test_categorical.py b/pandas/tests/groupby/test_categorical.py
--- a/pandas/tests/groupby/test_categorical.py
+++ b/pandas/tests/groupby/test_categorical.py
@@ -1,3 +1,11 @@
 import pandas as pd
+import pytest
+
+def test_groupby_dropna_categorical():
+    df = pd.DataFrame({'a': pd.Categorical(['x', None]), 'b': [1, 2]})
+    result = df.groupby('a', dropna=False).sum()
+    assert len(result) == 2
+    with pytest.raises(KeyError):
+        result.loc['missing']
 
 
";

    fn codes(problem: &str, patch: &str, test_patch: &str) -> Vec<&'static str> {
        lite_rejections(problem, patch, test_patch).iter().map(LiteRejection::code).collect()
    }

    fn problem_with(extra: &str) -> String {
        format!("{GOOD_PROBLEM}\n{extra}\n")
    }

    /// A one-file patch with `n` single-line hunks.
    fn patch_with_hunks(n: usize) -> String {
        let mut p = String::from("diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n");
        for i in 0..n {
            let at = 10 + i * 20;
            p.push_str(&format!(
                "@@ -{at},3 +{at},3 @@ def f{i}():\n     a = 1\n-    b = {i}\n+    b = {i} + 1\n     return a + b\n"
            ));
        }
        p
    }

    fn test_patch_adding(lines: &[&str]) -> String {
        let mut p = String::from(
            "diff --git a/tests/test_m.py b/tests/test_m.py\n--- a/tests/test_m.py\n+++ b/tests/test_m.py\n",
        );
        p.push_str(&format!("@@ -5,2 +5,{} @@\n def helper():\n     pass\n", lines.len() + 2));
        for l in lines {
            p.push('+');
            p.push_str(l);
            p.push('\n');
        }
        p
    }

    #[test]
    fn judging_keeps_the_instance_and_its_input_hash() {
        let input = LiteInput {
            instance_id: "o__r-1".into(),
            input_hash: "h".into(),
            problem_statement: "too short".into(),
            patch: GOOD_PATCH.into(),
            test_patch: GOOD_TEST_PATCH.into(),
        };
        let v = input.judge();
        assert_eq!((v.instance_id.as_str(), v.input_hash.as_str()), ("o__r-1", "h"));
        assert_eq!(v.rejections, vec![LiteRejection::ProblemTooShort { words: 2 }]);
    }

    #[test]
    fn lite_accepts_the_base_example() {
        assert_eq!(codes(GOOD_PROBLEM, GOOD_PATCH, GOOD_TEST_PATCH), Vec::<&str>::new());
        assert!(is_lite(GOOD_PROBLEM, GOOD_PATCH, GOOD_TEST_PATCH));
    }

    #[test]
    fn lite_accepts_every_reference_instance() {
        let files = [
            concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/reference/swebench_lite_test.jsonl"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/reference/swebench_lite_dev.jsonl"),
        ];
        let mut seen = 0;
        let mut failures = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
                let field = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} missing")).to_string();
                seen += 1;
                let r = lite_rejections(&field("problem_statement"), &field("patch"), &field("test_patch"));
                if !r.is_empty() {
                    let why: Vec<String> = r.iter().map(|x| format!("{}: {x}", x.code())).collect();
                    failures.push(format!("{}: {}", field("instance_id"), why.join("; ")));
                }
            }
        }
        assert_eq!(seen, 323, "300 test + 23 dev instances");
        assert!(failures.is_empty(), "{} rejected:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn lite_rejects_problem_too_short() {
        let r = lite_rejections("Crash when saving an empty frame, see traceback below.", GOOD_PATCH, GOOD_TEST_PATCH);
        assert_eq!(r, vec![LiteRejection::ProblemTooShort { words: 9 }]);
    }

    #[test]
    fn lite_word_count_edge_is_forty() {
        let words = |n: usize| (0..n).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" \n\t");
        assert!(is_lite(&words(40), GOOD_PATCH, GOOD_TEST_PATCH));
        assert_eq!(
            lite_rejections(&words(39), GOOD_PATCH, GOOD_TEST_PATCH),
            vec![LiteRejection::ProblemTooShort { words: 39 }]
        );
    }

    #[test]
    fn lite_rejects_problem_has_url() {
        let p =
            problem_with("The documentation at https://pandas.pydata.org/docs/user_guide/groupby.html says otherwise.");
        let r = lite_rejections(&p, GOOD_PATCH, GOOD_TEST_PATCH);
        assert_eq!(
            r,
            vec![LiteRejection::ProblemHasUrl("https://pandas.pydata.org/docs/user_guide/groupby.html".into())]
        );
        let p = problem_with("Compare with www.example.org/page for the expected output.");
        assert_eq!(codes(&p, GOOD_PATCH, GOOD_TEST_PATCH), vec!["problem_has_url"]);
        // A bare domain in text is not a link.
        let p = problem_with("Requests to example.com/new_thing are redirected twice.");
        assert!(is_lite(&p, GOOD_PATCH, GOOD_TEST_PATCH));
    }

    #[test]
    fn lite_rejects_problem_has_issue_reference() {
        for (extra, ev) in [
            ("This looks like a regression of #40123 from last year.", "#40123"),
            ("Possibly related to the discussion (#1234).", "#1234"),
            ("Same root cause as pandas-dev/pandas#38211 in the other repo.", "pandas-dev/pandas#38211"),
            ("Upstream tracks this as GH-9876.", "GH-9876"),
            ("This was discussed in issue 40213 already.", "issue 40213"),
            ("```\n# fixes #77 in the comment of the reproducer\n```", "fixes #77"),
        ] {
            let r = lite_rejections(&problem_with(extra), GOOD_PATCH, GOOD_TEST_PATCH);
            assert_eq!(r, vec![LiteRejection::ProblemHasIssueReference(ev.into())], "{extra}");
        }
        // An issue URL is both a URL and a reference.
        let p = problem_with("Reported in https://github.com/pandas-dev/pandas/issues/40123 too.");
        assert_eq!(codes(&p, GOOD_PATCH, GOOD_TEST_PATCH), vec!["problem_has_url", "problem_has_issue_reference"]);
        // Not references: comments and colours in code, HTML entities, anchors.
        let p = problem_with(
            "The colour `#112233` and &#123; entities are fine, as is the section Usage#1.\n```python\nx = [1]  #1 first\nplot(color=\"#000000\")\n```",
        );
        assert!(is_lite(&p, GOOD_PATCH, GOOD_TEST_PATCH), "{:?}", lite_rejections(&p, GOOD_PATCH, GOOD_TEST_PATCH));
    }

    #[test]
    fn lite_rejects_problem_has_commit_sha() {
        let p = problem_with("It started with commit 3f2e1a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f on main.");
        assert_eq!(
            lite_rejections(&p, GOOD_PATCH, GOOD_TEST_PATCH),
            vec![LiteRejection::ProblemHasCommitSha("3f2e1a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f".into())]
        );
        // Short SHAs, 40-digit numbers and 41-hex runs are not 40-hex SHAs.
        let p = problem_with(
            "Bisected to 3f2e1a9 but 1234567890123456789012345678901234567890 and 3f2e1a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3fa are not SHAs.",
        );
        assert!(is_lite(&p, GOOD_PATCH, GOOD_TEST_PATCH));
    }

    #[test]
    fn lite_rejects_problem_has_image() {
        for (extra, ev) in [
            (
                "The plot looks like this:\n![broken legend](attachments/legend.png)",
                "![broken legend](attachments/legend.png)",
            ),
            (
                "Screenshot: <img width=\"400\" alt=\"legend\" src=\"legend.png\">",
                "<img width=\"400\" alt=\"legend\" src=\"legend.png\">",
            ),
            ("See the attached screenshot legend_overlap.PNG for the result.", "legend_overlap.PNG"),
            ("A recording is in demo.mp4 showing the flicker.", "demo.mp4"),
        ] {
            let r = lite_rejections(&problem_with(extra), GOOD_PATCH, GOOD_TEST_PATCH);
            assert_eq!(r, vec![LiteRejection::ProblemHasImage(ev.into())], "{extra}");
        }
        // File names inside code and XML CDATA sections are not images.
        let p = problem_with(
            "```python\nfig.savefig('out.png')\n```\nand `export_png(plot, filename=\"plot.png\")` too.\n```xml\n<system-out><![CDATA[]]></system-out>\n```",
        );
        assert!(is_lite(&p, GOOD_PATCH, GOOD_TEST_PATCH), "{:?}", lite_rejections(&p, GOOD_PATCH, GOOD_TEST_PATCH));
    }

    #[test]
    fn lite_rejects_patch_files() {
        let two = format!(
            "{GOOD_PATCH}diff --git a/pandas/core/arrays/categorical.py b/pandas/core/arrays/categorical.py
--- a/pandas/core/arrays/categorical.py
+++ b/pandas/core/arrays/categorical.py
@@ -1,2 +1,2 @@
-x = 1
+x = 2
 y = 3
"
        );
        assert_eq!(lite_rejections(GOOD_PROBLEM, &two, GOOD_TEST_PATCH), vec![LiteRejection::PatchFiles { files: 2 }]);
        assert_eq!(codes(GOOD_PROBLEM, "", GOOD_TEST_PATCH), vec!["patch_file_count", "patch_hunk_count"]);
    }

    #[test]
    fn lite_rejects_patch_hunks() {
        assert!(is_lite(GOOD_PROBLEM, &patch_with_hunks(1), GOOD_TEST_PATCH));
        assert!(is_lite(GOOD_PROBLEM, &patch_with_hunks(3), GOOD_TEST_PATCH));
        assert_eq!(
            lite_rejections(GOOD_PROBLEM, &patch_with_hunks(4), GOOD_TEST_PATCH),
            vec![LiteRejection::PatchHunks { hunks: 4 }]
        );
        // A mode-only change has no hunk.
        let mode = "diff --git a/bin/run b/bin/run\nold mode 100644\nnew mode 100755\n";
        assert_eq!(lite_rejections(GOOD_PROBLEM, mode, GOOD_TEST_PATCH), vec![LiteRejection::PatchHunks { hunks: 0 }]);
    }

    #[test]
    fn lite_rejects_patch_adds_or_removes_file() {
        let added = "diff --git a/pandas/core/new_helper.py b/pandas/core/new_helper.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/pandas/core/new_helper.py
@@ -0,0 +1,2 @@
+def helper():
+    return 1
";
        assert_eq!(
            lite_rejections(GOOD_PROBLEM, added, GOOD_TEST_PATCH),
            vec![LiteRejection::PatchAddsOrRemovesFile("pandas/core/new_helper.py".into())]
        );
        let removed = "--- a/pandas/core/old.py\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x = 1\n";
        assert_eq!(
            lite_rejections(GOOD_PROBLEM, removed, GOOD_TEST_PATCH),
            vec![LiteRejection::PatchAddsOrRemovesFile("pandas/core/old.py".into())]
        );
        // Content lines that look like headers stay content: removing "-- /dev/null" and adding
        // "++ x" in a hunk neither adds a file nor starts a second one.
        let tricky = "diff --git a/docs/a.txt b/docs/a.txt
--- a/docs/a.txt
+++ b/docs/a.txt
@@ -1,2 +1,2 @@
--- /dev/null
++++ x
 context
";
        assert!(
            is_lite(GOOD_PROBLEM, tricky, GOOD_TEST_PATCH),
            "{:?}",
            lite_rejections(GOOD_PROBLEM, tricky, GOOD_TEST_PATCH)
        );
    }

    #[test]
    fn lite_rejects_test_checks_error_message() {
        let cases: [(&[&str], &str); 6] = [
            (
                &["    with pytest.raises(ValueError, match=\"cannot reindex\"):", "        df.reindex([1])"],
                "pytest.raises(ValueError, match=\"cannot reindex\")",
            ),
            (
                &[
                    "    with pytest.raises(",
                    "        TypeError,",
                    "        match=r\"unsupported \\(got int\\)\",",
                    "    ):",
                    "        f(1)",
                ],
                "pytest.raises( TypeError, match=r\"unsupported \\(got int\\)\", )",
            ),
            (
                &["    with pytest.warns(FutureWarning, match=\"deprecated\"):", "        g()"],
                "pytest.warns(FutureWarning, match=\"deprecated\")",
            ),
            (
                &["        with self.assertRaisesRegex(ValueError, 'bad value'):"],
                "with self.assertRaisesRegex(ValueError, 'bad value'):",
            ),
            (
                &["        self.assertRaisesRegexp(KeyError, 'x', d.pop, 'x')"],
                "self.assertRaisesRegexp(KeyError, 'x', d.pop, 'x')",
            ),
            (
                &["        with self.assertWarnsRegex(UserWarning, 'slow'):"],
                "with self.assertWarnsRegex(UserWarning, 'slow'):",
            ),
        ];
        for (lines, ev) in cases {
            let r = lite_rejections(GOOD_PROBLEM, GOOD_PATCH, &test_patch_adding(lines));
            assert_eq!(r, vec![LiteRejection::TestChecksErrorMessage(ev.into())], "{lines:?}");
        }
        // excinfo.match(...) on the name bound by pytest.raises(...) as excinfo.
        let t = test_patch_adding(&[
            "    with pytest.raises(ValueError) as excinfo:",
            "        f()",
            "    excinfo.match('bad')",
        ]);
        assert_eq!(codes(GOOD_PROBLEM, GOOD_PATCH, &t), vec!["test_checks_error_message"]);
        // Only added lines count: a removed or context `match=` is fine.
        let removed = "--- a/tests/test_m.py\n+++ b/tests/test_m.py\n@@ -1,3 +1,3 @@\n with open(p) as f:\n-    with pytest.raises(ValueError, match=\"x\"):\n+    with pytest.raises(ValueError):\n         f()\n";
        assert!(is_lite(GOOD_PROBLEM, GOOD_PATCH, removed));
        let context = "--- a/tests/test_m.py\n+++ b/tests/test_m.py\n@@ -1,2 +1,3 @@\n     with pytest.raises(ValueError, match=\"x\"):\n         f()\n+    g()\n";
        assert!(is_lite(GOOD_PROBLEM, GOOD_PATCH, context));
        // Not message checks: sympy's raises(), a variable called match, assertWarnsMessage.
        let fine = test_patch_adding(&[
            "    raises(ValueError, lambda: f(match == 1))",
            "    match = resolve('/x/')",
            "    with self.assertWarnsMessage(RemovedInDjango40Warning, msg):",
        ]);
        assert!(is_lite(GOOD_PROBLEM, GOOD_PATCH, &fine), "{:?}", lite_rejections(GOOD_PROBLEM, GOOD_PATCH, &fine));
    }

    #[test]
    fn lite_reports_every_failed_criterion_in_order() {
        let p = "See https://x.org/a.png and #12 at 3f2e1a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";
        let t = test_patch_adding(&["        self.assertRaisesMessage(ValueError, 'x')"]);
        let r = lite_rejections(p, "", &t);
        let got: Vec<&str> = r.iter().map(LiteRejection::code).collect();
        assert_eq!(
            got,
            vec![
                "problem_too_short",
                "problem_has_url",
                "problem_has_issue_reference",
                "problem_has_commit_sha",
                "problem_has_image",
                "patch_file_count",
                "patch_hunk_count",
                "test_checks_error_message",
            ]
        );
        for x in &r {
            assert!(LiteRejection::CODES.contains(&x.code()));
            assert!(!x.to_string().contains('\n'));
        }
    }
}
