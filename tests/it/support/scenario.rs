//! A scripted repository, `acme/widgets`, whose pull requests cover what `mine` must tell apart:
//! unmerged PRs, merged PRs without links, every linking form, links to PRs and to missing issues,
//! docs-only and tests-only diffs, two issues in one PR, links only in commit messages or only in
//! HTML comments. 233 PRs → three list pages.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::fake_github::{FakeComment, FakeCommit, FakeIssue, FakePull, FakeRepo};

pub const REPO: &str = "acme/widgets";

pub fn t0() -> DateTime<Utc> {
    "2024-03-01T00:00:00Z".parse().expect("time")
}

/// One file block of a realistic git diff.
pub fn file_diff(path: &str, added: &str) -> String {
    format!(
        "diff --git a/{path} b/{path}\nindex 83db48f..bf269f4 100644\n--- a/{path}\n+++ b/{path}\n@@ -1,3 +1,4 @@\n import os\n+{added}\n \n def main():\n"
    )
}

pub fn pull(number: u64, title: &str, body: Option<&str>, merged: bool, diff: String) -> FakePull {
    let created = t0() + Duration::hours(number as i64);
    let merged_at = merged.then(|| created + Duration::hours(2));
    FakePull {
        number,
        title: title.to_string(),
        body: body.map(str::to_string),
        created_at: created,
        updated_at: merged_at.unwrap_or(created + Duration::hours(1)) + Duration::minutes(1),
        merged_at,
        base_sha: format!("{:040x}", 0xba5e_0000_u64 + number),
        commits: vec![FakeCommit {
            sha: format!("{:040x}", 0xc0_0000_u64 + number),
            message: format!("Work on #{number}"),
            date: created - Duration::minutes(30),
        }],
        diff,
    }
}

pub fn issue(number: u64, title: &str, body: &str, comments: Vec<FakeComment>) -> FakeIssue {
    FakeIssue { number, title: title.into(), body: Some(body.into()), created_at: t0() - Duration::days(3), comments }
}

/// A comment `at` the given time (created and updated).
pub fn comment(id: u64, body: &str, at: DateTime<Utc>) -> FakeComment {
    FakeComment { id, body: body.into(), created_at: at, updated_at: at }
}

/// What mining `acme/widgets` must store as instances, by PR number.
pub struct Expected {
    pub pull: u64,
    pub issues: Vec<u64>,
    pub patch: String,
    pub test_patch: String,
    pub problem_statement: String,
    pub hints_text: String,
}

pub struct Scenario {
    pub repo: FakeRepo,
    pub expected: Vec<Expected>,
    pub unmerged: u64,
    pub merged_without_link: u64,
}

pub fn scenario() -> Scenario {
    let mut pulls = Vec::new();
    let mut issues = BTreeMap::new();
    let mut expected = Vec::new();
    // 200 unmerged PRs: they must cost nothing beyond the list pages.
    for n in 1..=200 {
        pulls.push(pull(n, &format!("Experiment {n}"), Some("Fixes #300"), false, String::new()));
    }
    // 20 merged PRs that link nothing: one request each (their commits).
    for n in 201..=220 {
        pulls.push(pull(
            n,
            &format!("Refactor {n}"),
            Some("Tidy up; see #300 for context."),
            true,
            file_diff("src/widgets/util.py", "x = 1"),
        ));
    }

    let src = |name: &str| file_diff(&format!("src/widgets/{name}.py"), &format!("fixed_{name} = True"));
    let test =
        |name: &str| file_diff(&format!("tests/test_{name}.py"), &format!("def test_{name}(): assert fixed_{name}"));

    // 301 fixes #300 (plain keyword); #300 has a comment before the first commit and one after.
    let first_commit_301 = t0() + Duration::hours(301) - Duration::minutes(30);
    issues.insert(
        300,
        issue(
            300,
            "Crash when parsing empty input",
            "Steps:\r\n1. parse('')\r\n2. boom",
            vec![
                comment(9001, "I can reproduce this on 2.1.", first_commit_301 - Duration::days(1)),
                comment(9002, "Also on main.", first_commit_301 - Duration::hours(1)),
                comment(9003, "Fixed by #301, thanks!", first_commit_301 + Duration::days(2)),
            ],
        ),
    );
    pulls.push(pull(
        301,
        "Fix crash on empty input",
        Some("Fixes #300\n\nAdds a guard."),
        true,
        format!("{}{}", src("parser"), test("parser")),
    ));
    expected.push(Expected {
        pull: 301,
        issues: vec![300],
        patch: src("parser"),
        test_patch: test("parser"),
        problem_statement: "Crash when parsing empty input\nSteps:\r\n1. parse('')\r\n2. boom\n".into(),
        hints_text: "I can reproduce this on 2.1.\nAlso on main.".into(),
    });

    // 303: `Fixes: #302` (colon form SWE-bench misses); test file listed first in the diff.
    issues.insert(302, issue(302, "Colon form", "Widgets overflow.", vec![]));
    pulls.push(pull(
        303,
        "Handle overflow",
        Some("Fixes: #302"),
        true,
        format!("{}{}", test("overflow"), src("overflow")),
    ));
    expected.push(Expected {
        pull: 303,
        issues: vec![302],
        patch: src("overflow"),
        test_patch: test("overflow"),
        problem_statement: "Colon form\nWidgets overflow.\n".into(),
        hints_text: String::new(),
    });

    // 306: `fixes #304, #305`: two issues, both in the problem statement, hints joined per issue.
    issues.insert(304, issue(304, "First bug", "One.", vec![comment(9101, "hint A", t0())]));
    issues.insert(305, issue(305, "Second bug", "Two.", vec![comment(9102, "hint B", t0())]));
    pulls.push(pull(
        306,
        "Fix two bugs",
        Some("This fixes #304, #305"),
        true,
        format!("{}{}", src("two"), test("two")),
    ));
    expected.push(Expected {
        pull: 306,
        issues: vec![304, 305],
        patch: src("two"),
        test_patch: test("two"),
        problem_statement: "First bug\nOne.\nSecond bug\nTwo.\n".into(),
        hints_text: "hint A\nhint B".into(),
    });

    // 308: `closes acme/widgets#307` (same-repo qualified reference).
    issues.insert(307, issue(307, "Qualified", "Q.", vec![]));
    pulls.push(pull(
        308,
        "Qualified ref",
        Some("closes acme/widgets#307 and relates to other/lib#1"),
        true,
        format!("{}{}", src("q"), test("q")),
    ));
    expected.push(Expected {
        pull: 308,
        issues: vec![307],
        patch: src("q"),
        test_patch: test("q"),
        problem_statement: "Qualified\nQ.\n".into(),
        hints_text: String::new(),
    });

    // 310: a full issue URL.
    issues.insert(309, issue(309, "By URL", "U.", vec![]));
    pulls.push(pull(
        310,
        "URL ref",
        Some("Resolves https://github.com/acme/widgets/issues/309"),
        true,
        format!("{}{}", src("url"), test("url")),
    ));
    expected.push(Expected {
        pull: 310,
        issues: vec![309],
        patch: src("url"),
        test_patch: test("url"),
        problem_statement: "By URL\nU.\n".into(),
        hints_text: String::new(),
    });

    // 312: `fixes #311` where #311 is a pull request: not an issue.
    pulls.push(pull(311, "An older PR", None, false, String::new()));
    pulls.push(pull(312, "Follow-up", Some("fixes #311"), true, format!("{}{}", src("follow"), test("follow"))));

    // 314: docs-only fix: an instance, but with an empty test_patch (not exported).
    issues.insert(313, issue(313, "Typo in docs", "Docs say 'widgit'.", vec![]));
    pulls.push(pull(314, "Fix typo", Some("Closes #313"), true, file_diff("docs/index.rst", "widget")));
    expected.push(Expected {
        pull: 314,
        issues: vec![313],
        patch: file_diff("docs/index.rst", "widget"),
        test_patch: String::new(),
        problem_statement: "Typo in docs\nDocs say 'widgit'.\n".into(),
        hints_text: String::new(),
    });

    // 316: the link is only in a commit message.
    issues.insert(315, issue(315, "Commit-linked", "C.", vec![]));
    pulls.push({
        let mut p =
            pull(316, "Quiet fix", Some("No description."), true, format!("{}{}", src("commit"), test("commit")));
        p.commits.push(FakeCommit {
            sha: format!("{:040x}", 0xc1_0316_u64),
            message: "Guard reader\n\nCloses #315".into(),
            date: p.created_at,
        });
        p
    });
    expected.push(Expected {
        pull: 316,
        issues: vec![315],
        patch: src("commit"),
        test_patch: test("commit"),
        problem_statement: "Commit-linked\nC.\n".into(),
        hints_text: String::new(),
    });

    // 318: the only link sits in an HTML comment (a PR template): no link.
    pulls.push(pull(318, "Templated", Some("<!-- Fixes #300 -->\nJust a cleanup."), true, src("tmpl")));

    // 320: only test files change: no gold patch.
    issues.insert(319, issue(319, "Flaky test", "F.", vec![]));
    pulls.push(pull(320, "Fix flaky test", Some("fix #319"), true, test("flaky")));

    // 322: names an issue that does not exist (deleted): not an issue.
    pulls.push(pull(322, "Ghost", Some("fixes #9999"), true, format!("{}{}", src("ghost"), test("ghost"))));

    // 324: names another repository's issue only: no link.
    pulls.push(pull(324, "Upstream", Some("Fixes other/lib#5"), true, src("up")));

    let repo = FakeRepo { pulls, issues };
    Scenario { repo, expected, unmerged: 201, merged_without_link: 22 }
}
