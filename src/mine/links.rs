//! Which issues a pull request says it resolves.
//!
//! SWE-bench's collector matches `<word> #N` where the word is a closing keyword, after removing HTML
//! comments from `title + "\n" + body + "\n" + commit messages`. We keep that and deliberately also
//! accept the forms it misses (each pinned by a test below):
//! - a colon after the keyword: `Fixes: #1`;
//! - lists: `fixes #1, #2 and #3` (SWE-bench keeps one number per keyword spelling);
//! - a same-repository qualified reference: `closes owner/repo#1` (other repositories are ignored);
//! - a full issue URL of the same repository: `resolves https://github.com/owner/repo/issues/1`.
//!
//! Whether a number is an issue or a pull request is decided later, from the issue API.

use regex::Regex;
use std::sync::LazyLock;

use crate::model::RepoName;

static HTML_COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->").expect("static regex"));

/// One reference: `#N`, `owner/repo#N` or an issues/pulls URL.
const REF: &str = r"(?:(?:https?://[^\s/]+/(?:[\w.-]+)/(?:[\w.-]+)/(?:issues|pull)/\d+)|(?:[\w.-]+/[\w.-]+)?#\d+)";

static KEYWORD_AND_REFS: LazyLock<Regex> = LazyLock::new(|| {
    let list = format!(r"{REF}(?:(?:\s*,\s*|\s*,?\s+and\s+|\s*&\s*){REF})*");
    Regex::new(&format!(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+(?P<refs>{list})"))
        .expect("static regex")
});

static ONE_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:https?://[^\s/]+/(?P<uo>[\w.-]+)/(?P<ur>[\w.-]+)/(?P<kind>issues|pull)/(?P<un>\d+))|(?:(?:(?P<qo>[\w.-]+)/(?P<qr>[\w.-]+))?#(?P<n>\d+))",
    )
    .expect("static regex")
});

/// The text SWE-bench searches: title, body and every commit message, HTML comments removed.
pub fn link_text<'a>(title: &str, body: &str, commit_messages: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = String::with_capacity(title.len() + body.len() + 64);
    text.push_str(title);
    text.push('\n');
    text.push_str(body);
    text.push('\n');
    let messages: Vec<&str> = commit_messages.into_iter().collect();
    text.push_str(&messages.join("\n"));
    HTML_COMMENT.replace_all(&text, "").into_owned()
}

/// Issue numbers referenced with a closing keyword, in order of first mention, without duplicates.
/// References to other repositories and to pull-request URLs are dropped.
pub fn resolved_issue_numbers(text: &str, repo: &RepoName) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for caps in KEYWORD_AND_REFS.captures_iter(text) {
        let Some(refs) = caps.name("refs") else { continue };
        for r in ONE_REF.captures_iter(refs.as_str()) {
            let number = if let Some(n) = r.name("un") {
                let same = r.name("uo").is_some_and(|o| o.as_str().eq_ignore_ascii_case(repo.owner()))
                    && r.name("ur").is_some_and(|n| n.as_str().eq_ignore_ascii_case(repo.name()));
                let is_issue = r.name("kind").is_some_and(|k| k.as_str().eq_ignore_ascii_case("issues"));
                if !(same && is_issue) {
                    continue;
                }
                n.as_str()
            } else if let Some(n) = r.name("n") {
                if let (Some(o), Some(name)) = (r.name("qo"), r.name("qr")) {
                    let same = o.as_str().eq_ignore_ascii_case(repo.owner())
                        && name.as_str().eq_ignore_ascii_case(repo.name());
                    if !same {
                        continue;
                    }
                }
                n.as_str()
            } else {
                continue;
            };
            // A number too large for u64 is no issue number.
            if let Ok(n) = number.parse::<u64>() {
                if n > 0 && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoName {
        "getmoto/moto".parse().unwrap()
    }
    fn refs(text: &str) -> Vec<u64> {
        resolved_issue_numbers(text, &repo())
    }

    #[test]
    fn every_swebench_keyword_any_case() {
        for kw in ["close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"] {
            assert_eq!(refs(&format!("{kw} #12")), vec![12], "{kw}");
            assert_eq!(refs(&format!("{} #12", kw.to_uppercase())), vec![12], "{kw}");
        }
    }

    #[test]
    fn no_keyword_no_link() {
        assert!(refs("See #12, related to #13").is_empty());
        assert!(refs("hotfixes #12").is_empty());
        assert!(refs("fixes#12").is_empty(), "SWE-bench requires whitespace");
    }

    #[test]
    fn link_keywords_with_colon() {
        assert_eq!(refs("Fixes: #1"), vec![1]);
    }

    #[test]
    fn link_lists_take_every_number() {
        assert_eq!(refs("fixes #1, #2"), vec![1, 2]);
        assert_eq!(refs("Closes #3, #4 and #5"), vec![3, 4, 5]);
        assert_eq!(refs("fixes #1 & #2"), vec![1, 2]);
    }

    #[test]
    fn link_same_repo_qualified_reference() {
        assert_eq!(refs("closes getmoto/moto#7"), vec![7]);
        assert_eq!(refs("closes GetMoto/Moto#7"), vec![7]);
        assert!(refs("closes other/repo#7").is_empty());
    }

    #[test]
    fn link_full_issue_url_same_repo_only() {
        assert_eq!(refs("Resolves https://github.com/getmoto/moto/issues/42"), vec![42]);
        assert!(refs("Resolves https://github.com/other/moto/issues/42").is_empty());
        assert!(refs("fixes https://github.com/getmoto/moto/pull/42").is_empty());
    }

    #[test]
    fn duplicates_are_kept_once_in_first_mention_order() {
        assert_eq!(refs("fixes #9\n\ncommit: Fixes #3\nfix #9"), vec![9, 3]);
    }

    #[test]
    fn html_comments_are_ignored() {
        let t = link_text("Title", "<!-- fixes #1 (template) -->\nreal text", ["fix #2"]);
        assert_eq!(refs(&t), vec![2]);
    }

    #[test]
    fn link_text_joins_like_swebench() {
        assert_eq!(link_text("T", "B", ["m1", "m2"]), "T\nB\nm1\nm2");
        assert_eq!(link_text("T", "", []), "T\n\n");
    }
}
