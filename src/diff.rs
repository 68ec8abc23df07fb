//! One reading of unified diffs for every stage: mine splits a pull request's diff into files,
//! the Lite criteria count hunks and read added test lines, build and validate pick the test files
//! to run, and scoring can ask which files a model's patch touches.
//!
//! Hunk bodies are read by the line counts of their `@@` header, so a content line that looks like
//! a header (`--- /dev/null`, `++ x`, an added `diff --git …`) stays content. Git diffs (`diff --git`
//! blocks with extended headers, quoted paths) and plain unified diffs (`---`/`+++` pairs, or bare
//! hunks) are both read. Nothing here fails: text that is not a diff has no files.

use std::borrow::Cow;

/// A parsed unified diff, borrowing the text it was parsed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch<'a> {
    files: Vec<FileDiff<'a>>,
}

/// What a file diff does to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Modified,
    Added,
    Deleted,
    Renamed,
    Copied,
}

/// One file of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff<'a> {
    old_path: Option<String>,
    new_path: Option<String>,
    kind: FileKind,
    binary: bool,
    hunks: Vec<Hunk<'a>>,
    text: &'a str,
}

/// One `@@ -old_start,old_count +new_start,new_count @@` hunk and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk<'a> {
    pub old_start: usize,
    pub old_count: usize,
    pub new_start: usize,
    pub new_count: usize,
    /// In order; `\ No newline at end of file` markers are left out.
    pub lines: Vec<Line<'a>>,
}

/// Which side of a hunk a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Context,
    Added,
    Removed,
}

/// One line of a hunk: its text without the `+`/`-`/` ` prefix and without the line ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub kind: LineKind,
    pub text: &'a str,
}

impl<'a> Patch<'a> {
    /// Reads `text` as a unified diff. Text before the first file (a mail header, a commit
    /// message) belongs to no file.
    pub fn parse(text: &'a str) -> Self {
        let lines: Vec<(usize, &str)> = text
            .split_inclusive('\n')
            .scan(0, |offset, raw| {
                let start = *offset;
                *offset += raw.len();
                Some((start, raw))
            })
            .collect();
        let mut drafts: Vec<Draft<'a>> = Vec::new();
        // Lines the current hunk still expects on each side.
        let (mut old_left, mut new_left) = (0usize, 0usize);
        for (i, &(offset, raw)) in lines.iter().enumerate() {
            let line = trim_eol(raw);
            if old_left > 0 || new_left > 0 {
                if let Some(hunk) = drafts.last_mut().and_then(|d| d.hunks.last_mut()) {
                    match hunk_line(line) {
                        HunkLine::Line(l) => {
                            match l.kind {
                                LineKind::Context => {
                                    old_left = old_left.saturating_sub(1);
                                    new_left = new_left.saturating_sub(1);
                                }
                                LineKind::Removed => old_left = old_left.saturating_sub(1),
                                LineKind::Added => new_left = new_left.saturating_sub(1),
                            }
                            hunk.lines.push(l);
                            continue;
                        }
                        HunkLine::NoNewline => continue,
                        // The header's counts were wrong: this line is read as a header again.
                        HunkLine::End => (old_left, new_left) = (0, 0),
                    }
                }
            }
            if let Some(rest) = line.strip_prefix("diff --git ") {
                drafts.push(Draft::new(offset, true));
                drafts.last_mut().expect("just pushed").header = git_header_paths(rest);
            } else if let Some(rest) = line.strip_prefix("--- ") {
                // A file header only when `+++` follows; otherwise (a mail's `---` separator) text.
                let next_is_plus = lines.get(i + 1).is_some_and(|(_, l)| l.starts_with("+++ "));
                if !next_is_plus {
                    continue;
                }
                // The pair of a `diff --git` block, or a plain diff's next file.
                let in_git_header = drafts.last().is_some_and(|d| d.git && d.minus.is_none() && d.hunks.is_empty());
                if !in_git_header {
                    drafts.push(Draft::new(offset, false));
                }
                drafts.last_mut().expect("present").minus = Some(side_path(rest, "a/"));
            } else if let Some(rest) = line.strip_prefix("+++ ") {
                if let Some(d) = drafts.last_mut().filter(|d| d.plus.is_none() && d.hunks.is_empty()) {
                    d.plus = Some(side_path(rest, "b/"));
                }
            } else if let Some(hunk) = hunk_header(line) {
                if drafts.is_empty() {
                    drafts.push(Draft::new(offset, false));
                }
                (old_left, new_left) = (hunk.old_count, hunk.new_count);
                drafts.last_mut().expect("present").hunks.push(hunk);
            } else if let Some(d) = drafts.last_mut().filter(|d| d.hunks.is_empty()) {
                d.extended_header(line);
            }
        }
        let ends: Vec<usize> = drafts.iter().skip(1).map(|d| d.start).chain([text.len()]).collect();
        let files = drafts
            .into_iter()
            .zip(ends)
            .map(|(d, end)| {
                let start = d.start;
                d.finish(&text[start..end])
            })
            .collect();
        Patch { files }
    }

    /// The files, in the order the diff lists them.
    pub fn files(&self) -> &[FileDiff<'a>] {
        &self.files
    }

    /// Hunks over all files.
    pub fn hunk_count(&self) -> usize {
        self.files.iter().map(|f| f.hunks.len()).sum()
    }
}

impl<'a> FileDiff<'a> {
    /// The path before the change; `None` for an added file.
    pub fn old_path(&self) -> Option<&str> {
        self.old_path.as_deref()
    }

    /// The path after the change; `None` for a deleted file.
    pub fn new_path(&self) -> Option<&str> {
        self.new_path.as_deref()
    }

    /// The path after the change, or before it for a deletion: the file a reader would name.
    /// `None` only for hunks without any file header.
    pub fn path(&self) -> Option<&str> {
        self.new_path().or_else(|| self.old_path())
    }

    pub fn kind(&self) -> FileKind {
        self.kind
    }

    pub fn is_added(&self) -> bool {
        self.kind == FileKind::Added
    }

    pub fn is_deleted(&self) -> bool {
        self.kind == FileKind::Deleted
    }

    /// Binary content (`Binary files … differ` or a `GIT binary patch`): there are no hunks to read.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    pub fn hunks(&self) -> &[Hunk<'a>] {
        &self.hunks
    }

    /// Added lines over all hunks, in order.
    pub fn added_lines(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.lines_of(LineKind::Added)
    }

    /// Removed lines over all hunks, in order.
    pub fn removed_lines(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.lines_of(LineKind::Removed)
    }

    fn lines_of(&self, kind: LineKind) -> impl Iterator<Item = &'a str> + '_ {
        self.hunks.iter().flat_map(|h| &h.lines).filter(move |l| l.kind == kind).map(|l| l.text)
    }

    /// The file's block of the diff, byte for byte: from its first header line (or hunk) up to the
    /// next file's. Concatenating every file's text gives the diff back, less any leading text.
    pub fn text(&self) -> &'a str {
        self.text
    }
}

/// A file while its lines are being read.
#[derive(Default)]
struct Draft<'a> {
    start: usize,
    /// Started by `diff --git` (its `---`/`+++` pair, if any, comes after the extended headers).
    git: bool,
    header: Option<(String, String)>,
    /// The `---` and `+++` paths; `Some(None)` is `/dev/null`.
    minus: Option<Option<String>>,
    plus: Option<Option<String>>,
    /// `rename from`/`copy from` and `rename to`/`copy to`, and which of the two it was.
    moved: Option<FileKind>,
    moved_from: Option<String>,
    moved_to: Option<String>,
    created: bool,
    deleted: bool,
    binary: bool,
    hunks: Vec<Hunk<'a>>,
}

impl<'a> Draft<'a> {
    fn new(start: usize, git: bool) -> Self {
        Draft { start, git, ..Draft::default() }
    }

    /// Git's extended header lines (between `diff --git` and the first hunk).
    fn extended_header(&mut self, line: &str) {
        if line.starts_with("new file mode ") {
            self.created = true;
        } else if line.starts_with("deleted file mode ") {
            self.deleted = true;
        } else if line.starts_with("Binary files ") || line == "GIT binary patch" {
            self.binary = true;
        } else {
            for (prefix, kind, from) in [
                ("rename from ", FileKind::Renamed, true),
                ("rename to ", FileKind::Renamed, false),
                ("copy from ", FileKind::Copied, true),
                ("copy to ", FileKind::Copied, false),
            ] {
                if let Some(p) = line.strip_prefix(prefix) {
                    self.moved = Some(kind);
                    let p = Some(path_token(p).into_owned());
                    if from {
                        self.moved_from = p;
                    } else {
                        self.moved_to = p;
                    }
                }
            }
        }
    }

    fn finish(self, text: &'a str) -> FileDiff<'a> {
        let kind = match self.moved {
            Some(kind) => kind,
            None if self.created || self.minus == Some(None) => FileKind::Added,
            None if self.deleted || self.plus == Some(None) => FileKind::Deleted,
            None => FileKind::Modified,
        };
        let (header_old, header_new) = self.header.unzip();
        let old_path =
            (kind != FileKind::Added).then(|| self.moved_from.or(self.minus.flatten()).or(header_old)).flatten();
        let new_path =
            (kind != FileKind::Deleted).then(|| self.plus.flatten().or(self.moved_to).or(header_new)).flatten();
        FileDiff { old_path, new_path, kind, binary: self.binary, hunks: self.hunks, text }
    }
}

enum HunkLine<'a> {
    Line(Line<'a>),
    NoNewline,
    End,
}

fn hunk_line(line: &str) -> HunkLine<'_> {
    let kind = match line.as_bytes().first() {
        // Some tools strip the space of an empty context line.
        Some(b' ') | None => LineKind::Context,
        Some(b'+') => LineKind::Added,
        Some(b'-') => LineKind::Removed,
        Some(b'\\') => return HunkLine::NoNewline,
        Some(_) => return HunkLine::End,
    };
    HunkLine::Line(Line { kind, text: line.get(1..).unwrap_or("") })
}

/// `@@ -l[,s] +l[,s] @@ …`; a count left out is 1.
fn hunk_header(line: &str) -> Option<Hunk<'static>> {
    let (ranges, _) = line.strip_prefix("@@ -")?.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |s: &str| -> Option<(usize, usize)> {
        match s.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((s.parse().ok()?, 1)),
        }
    };
    let (old_start, old_count) = range(old)?;
    let (new_start, new_count) = range(new)?;
    Some(Hunk { old_start, old_count, new_start, new_count, lines: Vec::new() })
}

fn trim_eol(raw: &str) -> &str {
    let line = raw.strip_suffix('\n').unwrap_or(raw);
    line.strip_suffix('\r').unwrap_or(line)
}

/// The path of a `---`/`+++` line without its side prefix; `None` for `/dev/null`. Plain diffs may
/// follow the path with a tab and a timestamp, and git ends paths with spaces with a tab.
fn side_path(rest: &str, prefix: &str) -> Option<String> {
    let path = if rest.starts_with('"') {
        c_unquote(rest).map_or(Cow::Borrowed(rest), |(p, _)| Cow::Owned(p))
    } else {
        Cow::Borrowed(rest.split('\t').next().unwrap_or(rest))
    };
    if path == "/dev/null" {
        return None;
    }
    Some(strip_side(&path, prefix).to_string())
}

fn strip_side<'p>(path: &'p str, prefix: &str) -> &'p str {
    path.strip_prefix(prefix).unwrap_or(path)
}

/// `a/X b/Y` (either half possibly quoted) → `(X, Y)`. Unquoted paths may hold spaces: when both
/// halves are equal (no rename) the split is exact, otherwise the last ` b/` wins, as in git.
fn git_header_paths(rest: &str) -> Option<(String, String)> {
    let (old, new): (Cow<'_, str>, Cow<'_, str>) = if rest.starts_with('"') {
        let (old, after) = c_unquote(rest)?;
        (Cow::Owned(old), path_token(after.strip_prefix(' ')?))
    } else if rest.ends_with('"') {
        // An unquoted path holds no `"`: the first ` "` separates the halves.
        let i = rest.find(" \"")?;
        (Cow::Borrowed(&rest[..i]), path_token(&rest[i + 1..]))
    } else {
        let half = rest.len().checked_sub(1)? / 2;
        let equal = rest.len() % 2 == 1
            && rest.is_char_boundary(half)
            && rest[half..].starts_with(' ')
            && strip_side(&rest[..half], "a/") == strip_side(&rest[half + 1..], "b/");
        let i = if equal { half } else { rest.rfind(" b/")? };
        (Cow::Borrowed(&rest[..i]), Cow::Borrowed(&rest[i + 1..]))
    };
    Some((strip_side(&old, "a/").to_string(), strip_side(&new, "b/").to_string()))
}

/// A path as git prints it in headers: C-quoted when unusual, else verbatim.
fn path_token(s: &str) -> Cow<'_, str> {
    match c_unquote(s) {
        Some((p, "")) => Cow::Owned(p),
        _ => Cow::Borrowed(s),
    }
}

/// Git's C-style quoting (`"t\303\251st"`): the decoded string and the text after the closing
/// quote, or `None` when `s` does not start with a complete quoted string.
fn c_unquote(s: &str) -> Option<(String, &str)> {
    let inner = s.strip_prefix('"')?;
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), &inner[i..])),
            b'\\' => {
                let e = *bytes.get(i)?;
                i += 1;
                match e {
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(0x0b),
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match bytes.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(u8::try_from(v & 0xff).unwrap_or(b'?'));
                    }
                    other => out.push(other),
                }
            }
            other => out.push(other),
        }
    }
    None
}

/// Test files a test patch touches, as SWE-bench selects them (code files only).
pub fn touched_test_files(test_patch: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for p in Patch::parse(test_patch).files().iter().filter_map(|f| f.path()) {
        if p.ends_with(".py") && !out.iter().any(|o| o == p) {
            out.push(p.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(diff: &str) -> FileDiff<'_> {
        let p = Patch::parse(diff);
        assert_eq!(p.files().len(), 1, "{diff}");
        p.files()[0].clone()
    }

    /// The path mine routes a block by (the helper the splitter's tests were written against).
    fn block_path(block: &str) -> Option<String> {
        Patch::parse(block).files().first().and_then(|f| f.path().map(str::to_string))
    }

    const TWO_FILES: &str = "diff --git a/src/m.py b/src/m.py\nindex 1..2 100644\n--- a/src/m.py\n+++ b/src/m.py\n@@ -1,3 +1,4 @@ def f():\n a = 1\n-b = 2\n+b = 3\n+c = 4\n d = 5\ndiff --git a/tests/test_m.py b/tests/test_m.py\n--- a/tests/test_m.py\n+++ b/tests/test_m.py\n@@ -10 +10 @@\n-x\n+y\n\\ No newline at end of file\n";

    #[test]
    fn modified_files_with_hunks_and_counted_lines() {
        let p = Patch::parse(TWO_FILES);
        let [m, t] = p.files() else { panic!("two files: {p:?}") };
        assert_eq!((m.old_path(), m.new_path(), m.kind()), (Some("src/m.py"), Some("src/m.py"), FileKind::Modified));
        assert_eq!(m.hunks().len(), 1);
        let h = &m.hunks()[0];
        assert_eq!((h.old_start, h.old_count, h.new_start, h.new_count), (1, 3, 1, 4));
        assert_eq!(m.added_lines().collect::<Vec<_>>(), ["b = 3", "c = 4"]);
        assert_eq!(m.removed_lines().collect::<Vec<_>>(), ["b = 2"]);
        assert_eq!(h.lines.iter().filter(|l| l.kind == LineKind::Context).count(), 2);
        assert_eq!(t.path(), Some("tests/test_m.py"));
        assert_eq!(t.hunks()[0].lines.len(), 2, "the no-newline marker is not a line");
        assert_eq!(p.hunk_count(), 2);
        assert!(!m.is_binary() && !m.is_added() && !m.is_deleted());
    }

    #[test]
    fn verbatim_round_trip() {
        let p = Patch::parse(TWO_FILES);
        assert_eq!(p.files().iter().map(FileDiff::text).collect::<String>(), TWO_FILES);
        assert!(p.files()[1].text().starts_with("diff --git a/tests/test_m.py"));
        // CRLF line endings are kept in the text and dropped from the lines.
        let crlf = TWO_FILES.replace('\n', "\r\n");
        let p = Patch::parse(&crlf);
        assert_eq!(p.files().iter().map(FileDiff::text).collect::<String>(), crlf);
        assert_eq!(p.files()[0].added_lines().collect::<Vec<_>>(), ["b = 3", "c = 4"]);
        // Leading text (a mail header with its own `---`) belongs to no file.
        let mail = format!("From: a@b\nSubject: fix\n---\n src/m.py | 2 +-\n\n{TWO_FILES}");
        let p = Patch::parse(&mail);
        assert_eq!(p.files().len(), 2);
        assert_eq!(p.files().iter().map(FileDiff::text).collect::<String>(), TWO_FILES);
    }

    #[test]
    fn header_looking_content_lines_stay_content() {
        let d = "diff --git a/docs/a.txt b/docs/a.txt\n--- a/docs/a.txt\n+++ b/docs/a.txt\n@@ -1,2 +1,4 @@\n--- /dev/null\n+++ b/x\n+diff --git a/fake b/fake\n+@@ -1 +1 @@\n context\n";
        let f = one(d);
        assert_eq!(f.kind(), FileKind::Modified);
        assert_eq!(f.path(), Some("docs/a.txt"));
        assert_eq!(f.removed_lines().collect::<Vec<_>>(), ["-- /dev/null"]);
        assert_eq!(f.added_lines().collect::<Vec<_>>(), ["++ b/x", "diff --git a/fake b/fake", "@@ -1 +1 @@"]);
        assert_eq!(f.hunks().len(), 1);
        assert_eq!(f.text(), d);
    }

    #[test]
    fn wrong_hunk_counts_end_the_hunk_at_the_next_header() {
        let d = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,5 +1,5 @@\n-x\n+y\ndiff --git a/b.py b/b.py\n--- a/b.py\n+++ b/b.py\n@@ -1 +1 @@\n-p\n+q\n";
        let p = Patch::parse(d);
        assert_eq!(p.files().iter().map(|f| f.path()).collect::<Vec<_>>(), [Some("a.py"), Some("b.py")]);
        assert_eq!(p.files()[1].added_lines().collect::<Vec<_>>(), ["q"]);
    }

    #[test]
    fn added_deleted_renamed_and_copied_files() {
        let added = one("diff --git a/new.py b/new.py\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+x\n");
        assert_eq!((added.kind(), added.old_path(), added.new_path()), (FileKind::Added, None, Some("new.py")));
        assert!(added.is_added());
        let deleted = one("diff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n");
        assert_eq!(
            (deleted.kind(), deleted.old_path(), deleted.new_path()),
            (FileKind::Deleted, Some("gone.py"), None)
        );
        assert_eq!(deleted.path(), Some("gone.py"));
        // An empty file deleted: no `---`/`+++`, the mode line says it.
        let empty = one("diff --git a/empty.txt b/empty.txt\ndeleted file mode 100644\nindex e69de29..0000000\n");
        assert!(empty.is_deleted());
        assert_eq!(empty.path(), Some("empty.txt"));
        let renamed = one("diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\nrename to new.py\n--- a/old.py\n+++ b/new.py\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(
            (renamed.kind(), renamed.old_path(), renamed.new_path()),
            (FileKind::Renamed, Some("old.py"), Some("new.py"))
        );
        let copied = one("diff --git a/a.py b/b.py\nsimilarity index 100%\ncopy from a.py\ncopy to b.py\n");
        assert_eq!(
            (copied.kind(), copied.old_path(), copied.new_path()),
            (FileKind::Copied, Some("a.py"), Some("b.py"))
        );
        assert!(copied.hunks().is_empty());
    }

    #[test]
    fn binary_and_mode_only_changes_have_no_hunks() {
        let bin = one("diff --git a/img.png b/img.png\nnew file mode 100644\nindex 0000000..1234567\nBinary files /dev/null and b/img.png differ\n");
        assert!(bin.is_binary() && bin.is_added() && bin.hunks().is_empty());
        assert_eq!(bin.path(), Some("img.png"));
        let literal = one("diff --git a/x.bin b/x.bin\nindex 1..2 100644\nGIT binary patch\nliteral 5\nMcmZ?b0\n\nliteral 3\nKcmV+b0\n\n");
        assert!(literal.is_binary());
        assert_eq!(literal.kind(), FileKind::Modified);
        let mode = one("diff --git a/bin/run b/bin/run\nold mode 100644\nnew mode 100755\n");
        assert_eq!((mode.kind(), mode.path()), (FileKind::Modified, Some("bin/run")));
        assert!(mode.hunks().is_empty() && !mode.is_binary());
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        let f = one("diff --git \"a/tab\\there.py\" \"b/tab\\there.py\"\n--- \"a/tab\\there.py\"\n+++ \"b/tab\\there.py\"\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(f.path(), Some("tab\there.py"));
        // One half quoted, the other not (a rename to an unusual name).
        let f = one("diff --git a/plain.py \"b/qu\\\"ote.py\"\nrename from plain.py\nrename to \"qu\\\"ote.py\"\n");
        assert_eq!((f.old_path(), f.new_path()), (Some("plain.py"), Some("qu\"ote.py")));
        // A quoted header of a binary file, whose only path is in the header.
        let f = one("diff --git \"a/\\346\\227\\245.png\" \"b/\\346\\227\\245.png\"\nBinary files differ\n");
        assert_eq!(f.path(), Some("日.png"));
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
    fn spaces_in_paths_and_trailing_tabs() {
        let f = one("diff --git a/my dir/b c.py b/my dir/b c.py\n--- a/my dir/b c.py\t\n+++ b/my dir/b c.py\t\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!((f.old_path(), f.new_path()), (Some("my dir/b c.py"), Some("my dir/b c.py")));
        // A header-only rename with spaces: the last ` b/` splits the halves.
        let f = one("diff --git a/x y.py b/z w.py\nrename from x y.py\nrename to z w.py\n");
        assert_eq!((f.old_path(), f.new_path()), (Some("x y.py"), Some("z w.py")));
    }

    #[test]
    fn headerless_diffs() {
        // Plain `---`/`+++` pairs, with timestamps, one after another.
        let d = "--- a/pkg/one.py\t2024-01-01 00:00:00\n+++ b/pkg/one.py\t2024-01-02 00:00:00\n@@ -1,2 +1,2 @@\n-x\n+y\n z\n--- a/pkg/two.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n";
        let p = Patch::parse(d);
        let [a, b] = p.files() else { panic!("{p:?}") };
        assert_eq!((a.path(), a.kind()), (Some("pkg/one.py"), FileKind::Modified));
        assert_eq!((b.path(), b.kind()), (Some("pkg/two.py"), FileKind::Deleted));
        assert_eq!(format!("{}{}", a.text(), b.text()), d);
        // A new file in a plain diff, and paths without a/ b/ prefixes.
        let f = one("--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+n\n");
        assert_eq!((f.kind(), f.path()), (FileKind::Added, Some("new.py")));
        let f = one("--- setup.py\n+++ setup.py\n@@ -1 +1 @@\n-a\n+b\n");
        assert_eq!(f.path(), Some("setup.py"));
        // Bare hunks: one file without a path.
        let f = one("@@ -1 +1,2 @@\n x\n+y\n");
        assert_eq!((f.path(), f.added_lines().collect::<Vec<_>>()), (None, vec!["y"]));
    }

    #[test]
    fn empty_and_garbage_text_has_no_files() {
        assert!(Patch::parse("").files().is_empty());
        assert!(Patch::parse("not a diff\n--- just a rule\n@@ not a hunk @@\n").files().is_empty());
        assert_eq!(Patch::parse("").hunk_count(), 0);
    }

    #[test]
    fn touched_test_files_keeps_python_files_once() {
        let patch = "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n@@ -1 +1 @@\n-x\n+y\n\
                     diff --git a/tests/data.json b/tests/data.json\n--- a/tests/data.json\n+++ b/tests/data.json\n@@ -1 +1 @@\n-x\n+y\n";
        assert_eq!(touched_test_files(patch), vec!["tests/test_a.py".to_string()]);
    }
}
