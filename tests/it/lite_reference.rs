//! Real data: the pull requests behind the 300 SWE-bench Lite test instances, served through the
//! fake GitHub, must mine back into the same instances.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::support::fake_github::{FakeComment, FakeCommit, FakeIssue, FakePull, FakeRepo};
use crate::support::TestContext;

#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    pub repo: String,
    pub instance_id: String,
    pub base_commit: String,
    pub patch: String,
    pub test_patch: String,
    pub problem_statement: String,
    pub hints_text: String,
    pub created_at: String,
}

pub fn reference_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/reference").join(name)
}

pub fn load(name: &str) -> Vec<Reference> {
    let path = reference_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (the reference data lives in ../shared beside the project)", path.display())
    });
    text.lines().map(|l| serde_json::from_str(l).expect("reference row")).collect()
}

fn pull_number(id: &str) -> u64 {
    id.rsplit_once('-').and_then(|(_, n)| n.parse().ok()).expect("instance id ends in -N")
}

/// Serves each instance as a merged PR fixing one issue whose title and body make up the problem
/// statement; the hints are a comment made before the PR's first commit, and a later comment must
/// be ignored.
fn serve(ctx: &TestContext, rows: &[Reference]) {
    let mut repos: BTreeMap<String, FakeRepo> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let n = pull_number(&r.instance_id);
        let issue_number = 1_000_000 + n;
        let created: DateTime<Utc> = r.created_at.parse().expect("created_at");
        let first_commit = created - Duration::hours(1);
        let ps = &r.problem_statement;
        let (title, rest) = ps.split_once('\n').expect("title line");
        let body = rest.strip_suffix('\n').expect("problem statement ends with a newline");
        assert_eq!(format!("{title}\n{body}\n"), *ps);
        let mut comments = Vec::new();
        if !r.hints_text.is_empty() {
            let at = first_commit - Duration::days(1);
            comments.push(FakeComment {
                id: 10 * i as u64 + 1,
                body: r.hints_text.clone(),
                created_at: at,
                updated_at: at,
            });
        }
        let late = first_commit + Duration::days(1);
        comments.push(FakeComment {
            id: 10 * i as u64 + 2,
            body: "Thanks, merged! (not a hint)".into(),
            created_at: late,
            updated_at: late,
        });
        let repo = repos.entry(r.repo.clone()).or_default();
        repo.issues.insert(
            issue_number,
            FakeIssue {
                number: issue_number,
                title: title.into(),
                body: Some(body.into()),
                created_at: created - Duration::days(30),
                comments,
            },
        );
        let merged = created + Duration::days(1);
        repo.pulls.push(FakePull {
            number: n,
            title: format!("Fix for {}", r.instance_id),
            body: Some(format!("Fixes #{issue_number}\n\n<!-- Thanks for contributing! closes #1 -->")),
            created_at: created,
            updated_at: merged + Duration::minutes(1),
            merged_at: Some(merged),
            base_sha: r.base_commit.clone(),
            commits: vec![FakeCommit { sha: format!("{:040x}", n), message: "Fix the bug".into(), date: first_commit }],
            diff: format!("{}{}", r.patch, r.test_patch),
        });
    }
    for (name, repo) in repos {
        ctx.fake.add_repo(&name, repo);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mining_reproduces_the_300_swebench_lite_instances() {
    let rows = load("swebench_lite_test.jsonl");
    assert_eq!(rows.len(), 300);
    let ctx = TestContext::new().await;
    serve(&ctx, &rows);
    let mut repos: Vec<&str> = rows.iter().map(|r| r.repo.as_str()).collect();
    repos.sort();
    repos.dedup();
    let mut opts = TestContext::options(&repos);
    opts.jobs = 8;
    let summary = ctx.mine(&opts).await;
    assert!(!summary.has_failures(), "{summary:?}");

    let mined: BTreeMap<String, swegym_build::model::RawInstance> =
        ctx.store().instances(false).unwrap().into_iter().map(|i| (i.instance_id.clone(), i)).collect();
    assert_eq!(mined.len(), 300);
    for r in &rows {
        let m = mined.get(&r.instance_id).unwrap_or_else(|| panic!("{} not mined", r.instance_id));
        assert_eq!(m.repo, r.repo, "{}", r.instance_id);
        assert_eq!(m.base_commit, r.base_commit, "{}", r.instance_id);
        assert_eq!(m.patch, r.patch, "{} patch", r.instance_id);
        assert_eq!(m.test_patch, r.test_patch, "{} test_patch", r.instance_id);
        assert_eq!(m.problem_statement, r.problem_statement, "{} problem_statement", r.instance_id);
        assert_eq!(m.hints_text, r.hints_text, "{} hints_text", r.instance_id);
        assert_eq!(m.created_at, r.created_at, "{} created_at", r.instance_id);
    }
}

#[test]
fn diff_split_reproduces_every_lite_split() {
    // Test and dev splits: 323 instances whose patch/test_patch SWE-bench split by file path.
    let mut rows = load("swebench_lite_test.jsonl");
    rows.extend(load("swebench_lite_dev.jsonl"));
    for r in &rows {
        let s = swegym_build::mine::diff::split_diff(&format!("{}{}", r.patch, r.test_patch));
        assert_eq!(s.patch, r.patch, "{}", r.instance_id);
        assert_eq!(s.test_patch, r.test_patch, "{}", r.instance_id);
    }
}
