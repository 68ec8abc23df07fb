//! `problem_statement` and `hints_text`, as SWE-bench's collector builds them.

use chrono::{DateTime, Utc};

/// What the problem statement and hints need of one linked issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueText {
    pub number: u64,
    pub title: String,
    pub body: String,
    /// Comments in the order GitHub lists them (oldest first): `(updated_at, body)`.
    pub comments: Vec<(DateTime<Utc>, String)>,
}

/// `title + "\n" + body + "\n"` for each issue, concatenated.
pub fn problem_statement(issues: &[IssueText]) -> String {
    let mut out = String::new();
    for i in issues {
        out.push_str(&i.title);
        out.push('\n');
        out.push_str(&i.body);
        out.push('\n');
    }
    out
}

/// Comments made before the PR's first commit: per issue, the bodies of the leading comments whose
/// `updated_at` is earlier than the first commit's author date (stopping at the first one that is
/// not), joined with "\n"; the per-issue texts joined with "\n". No commit → no hints.
pub fn hints_text(issues: &[IssueText], first_commit_at: Option<DateTime<Utc>>) -> String {
    let Some(first) = first_commit_at else {
        return if issues.is_empty() { String::new() } else { vec![""; issues.len()].join("\n") };
    };
    issues
        .iter()
        .map(|i| {
            i.comments
                .iter()
                .take_while(|(at, _)| *at < first)
                .map(|(_, body)| body.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn issue(n: u64, comments: &[(&str, &str)]) -> IssueText {
        IssueText {
            number: n,
            title: format!("T{n}"),
            body: format!("B{n}"),
            comments: comments.iter().map(|(t, b)| (at(t), b.to_string())).collect(),
        }
    }

    #[test]
    fn problem_statement_concatenates_title_and_body() {
        assert_eq!(problem_statement(&[issue(1, &[]), issue(2, &[])]), "T1\nB1\nT2\nB2\n");
    }

    #[test]
    fn hints_stop_at_first_comment_not_before_first_commit() {
        let i = issue(
            1,
            &[
                ("2020-01-01T00:00:00Z", "early"),
                ("2020-01-03T00:00:00Z", "late"),
                ("2020-01-01T12:00:00Z", "edited-early-but-after-a-late-one"),
            ],
        );
        assert_eq!(hints_text(&[i], Some(at("2020-01-02T00:00:00Z"))), "early");
    }

    #[test]
    fn hints_of_several_issues_joined_even_when_empty() {
        let a = issue(1, &[]);
        let b = issue(2, &[("2020-01-01T00:00:00Z", "x"), ("2020-01-01T01:00:00Z", "y")]);
        assert_eq!(hints_text(&[a, b], Some(at("2021-01-01T00:00:00Z"))), "\nx\ny");
    }

    #[test]
    fn a_comment_at_the_commit_instant_is_not_a_hint() {
        let i = issue(1, &[("2020-01-02T00:00:00Z", "same second")]);
        assert_eq!(hints_text(&[i], Some(at("2020-01-02T00:00:00Z"))), "");
    }
}
