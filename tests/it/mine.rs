//! `mine` against the fake GitHub, through the library.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use swegym_build::cancel::Cancel;
use swegym_build::github::RequestKind;
use swegym_build::store::PullOutcome;

use crate::support::scenario::{self, REPO};
use crate::support::{Fault, TestContext};

fn outcomes(ctx: &TestContext) -> HashMap<u64, (PullOutcome, Vec<u64>)> {
    ctx.store().pulls(REPO, false).unwrap().into_iter().map(|p| (p.number, (p.outcome, p.issue_numbers))).collect()
}

async fn requested_paths(ctx: &TestContext) -> Vec<String> {
    ctx.server.received_requests().await.unwrap_or_default().iter().map(|r| r.url.path().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mines_every_linking_form_across_pages() {
    let ctx = TestContext::new().await;
    let sc = scenario::scenario();
    ctx.fake.add_repo(REPO, sc.repo.clone());
    let summary = ctx.mine(&TestContext::options(&[REPO])).await;
    let r = &summary.repos[0];
    assert_eq!(r.error, None);
    assert_eq!(r.listed, 233);
    assert_eq!(r.unmerged, sc.unmerged);
    assert_eq!(r.no_link, sc.merged_without_link);
    assert!(r.listing_complete);

    // Every expected instance, field for field, and nothing else.
    let instances = ctx.store().instances(false).unwrap();
    let got: Vec<u64> = instances.iter().map(|i| i.pull_number).collect();
    let mut want: Vec<u64> = sc.expected.iter().map(|e| e.pull).collect();
    want.sort();
    assert_eq!(got, want);
    for e in &sc.expected {
        let i = instances.iter().find(|i| i.pull_number == e.pull).unwrap();
        assert_eq!(i.instance_id, format!("acme__widgets-{}", e.pull));
        assert_eq!(i.repo, REPO);
        assert_eq!(i.issue_numbers, e.issues, "pull {}", e.pull);
        assert_eq!(i.patch, e.patch, "pull {}", e.pull);
        assert_eq!(i.test_patch, e.test_patch, "pull {}", e.pull);
        assert_eq!(i.problem_statement, e.problem_statement, "pull {}", e.pull);
        assert_eq!(i.hints_text, e.hints_text, "pull {}", e.pull);
        assert_eq!(i.base_commit, format!("{:040x}", 0xba5e_0000_u64 + e.pull));
        assert_eq!(
            i.created_at,
            (scenario::t0() + chrono::Duration::hours(e.pull as i64)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
        );
    }

    let o = outcomes(&ctx);
    assert_eq!(o[&312], (PullOutcome::NoIssue, vec![]), "a link to a pull request is not an issue");
    assert_eq!(o[&322], (PullOutcome::NoIssue, vec![]), "a missing issue is not an issue");
    assert_eq!(o[&318].0, PullOutcome::NoLink, "links in HTML comments do not count");
    assert_eq!(o[&324].0, PullOutcome::NoLink, "other repositories' issues do not count");
    assert_eq!(o[&320].0, PullOutcome::NoPatch, "tests-only diffs have no gold patch");
    assert_eq!(o[&150].0, PullOutcome::Unmerged);
    assert_eq!(o[&210].0, PullOutcome::NoLink);

    // Lean on requests: unmerged PRs cost nothing beyond the list pages; a merged PR without a
    // link costs exactly its commits request.
    let paths = requested_paths(&ctx).await;
    assert_eq!(ctx.fake.requests(), summary.requests_total);
    assert_eq!(summary.requests_by_kind["pull_list"], 3);
    let merged = 233 - sc.unmerged;
    assert_eq!(summary.requests_by_kind["commits"], merged);
    for n in 1..=200 {
        assert!(
            !paths.iter().any(|p| p.contains(&format!("/pulls/{n}/")) || p.ends_with(&format!("/pulls/{n}"))),
            "unmerged #{n} was requested"
        );
    }
    for n in 201..=220 {
        let hits = paths.iter().filter(|p| p.contains(&format!("/{n}"))).count();
        assert_eq!(hits, 1, "merged PR #{n} without links");
    }
    // Comments only for issues that have any, and the diff only for PRs that link a real issue.
    assert_eq!(summary.requests_by_kind["comments"], 3);
    assert_eq!(summary.requests_by_kind["diff"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_run_is_incremental_and_idempotent() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.mine(&TestContext::options(&[REPO])).await;
    let before = ctx.store().instances(false).unwrap();

    let again = ctx.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(again.requests_total, 1, "only the first list page, which reaches the cursor");
    assert_eq!(again.repos[0].processed, 0);
    assert_eq!(ctx.store().instances(false).unwrap(), before);

    // A new PR and an edited body: only those are processed.
    ctx.fake.edit_repo(REPO, |r| {
        let mut p = scenario::pull(
            400,
            "New fix",
            Some("Fixes #300"),
            true,
            format!(
                "{}{}",
                scenario::file_diff("src/widgets/new.py", "n = 1"),
                scenario::file_diff("tests/test_new.py", "n = 2")
            ),
        );
        p.updated_at = scenario::t0() + chrono::Duration::days(60);
        r.pulls.push(p);
        let old = r.pulls.iter_mut().find(|p| p.number == 210).unwrap();
        old.body = Some("Actually this closes #300".into());
        old.updated_at = scenario::t0() + chrono::Duration::days(61);
    });
    let third = ctx.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(third.repos[0].processed, 2);
    assert_eq!(third.repos[0].instances, 2);
    let after = ctx.store().instances(false).unwrap();
    assert_eq!(after.len(), before.len() + 2);
    assert!(after.iter().any(|i| i.pull_number == 210));

    // --full re-lists everything but still skips what is unchanged.
    let mut full = TestContext::options(&[REPO]);
    full.full = true;
    let f = ctx.mine(&full).await;
    assert_eq!(f.requests_by_kind.get("pull_list"), Some(&3));
    assert_eq!(f.repos[0].processed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_and_max_pulls_bound_the_scan() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    let mut o = TestContext::options(&[REPO]);
    o.max_pulls = Some(50);
    let s = ctx.mine(&o).await;
    assert_eq!(s.repos[0].listed, 50);
    assert!(!s.repos[0].listing_complete, "a partial scan does not move the cursor");

    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    let mut o = TestContext::options(&[REPO]);
    o.since = Some(scenario::t0() + chrono::Duration::hours(300));
    let s = ctx.mine(&o).await;
    assert_eq!(s.repos[0].listed, 13, "PRs #301..#324 that exist; older ones end the listing");
    assert_eq!(s.requests_by_kind["pull_list"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_limit_without_headers_is_waited_out() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.fail("/pulls?", [Fault::SecondaryNoHeaders, Fault::SecondaryNoHeaders]);
    let started = Instant::now();
    let s = ctx.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(s.repos[0].error, None);
    assert_eq!(s.repos[0].instances, 7);
    assert_eq!(s.retries, 2);
    // 20 ms then 40 ms: the back-off doubles.
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_honours_retry_after() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.fail("/issues/300", [Fault::TooManyRequests { retry_after: 1 }]);
    let started = Instant::now();
    let s = ctx.mine(&TestContext::options(&[REPO])).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "retry-after: 1 was not honoured");
    assert_eq!(s.repos[0].failed, 0);
    assert_eq!(s.repos[0].instances, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_gateway_is_retried_with_backoff() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.fail("/pulls/301/commits", [Fault::BadGateway, Fault::BadGateway]);
    ctx.fake.fail("/pulls?", [Fault::Status(503)]);
    let s = ctx.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(s.repos[0].failed, 0);
    assert_eq!(s.repos[0].instances, 7);
    assert_eq!(s.retries, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_fails_one_pull_and_next_run_finishes() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.fail("/issues/302", [Fault::MalformedJson]);
    let s = ctx.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(s.repos[0].failed, 1);
    assert_eq!(s.repos[0].instances, 6);
    assert!(s.has_failures());
    let p = ctx.store().pulls(REPO, true).unwrap();
    assert_eq!(p.len(), 1);
    assert!(p[0].detail.as_deref().unwrap_or("").contains("malformed"), "{:?}", p[0].detail);

    // The fault is gone: the next run retries the failed PR and reaches the clean result.
    let s2 = ctx.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(s2.repos[0].processed, 1);
    assert_eq!(s2.repos[0].failed, 0);

    let clean = TestContext::new().await;
    clean.fake.add_repo(REPO, scenario::scenario().repo);
    clean.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(ctx.store().instances(false).unwrap(), clean.store().instances(false).unwrap());
    assert_eq!(outcomes(&ctx), outcomes(&clean));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_repo_is_reported_and_others_continue() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    let s = ctx.mine(&TestContext::options(&["nobody/nothing", REPO])).await;
    let missing = &s.repos[0];
    let err = missing.error.as_deref().unwrap_or("");
    assert!(err.contains("nobody/nothing") && err.contains("not found"), "{err}");
    assert_eq!(s.repos[1].instances, 7);
    let status = ctx.store().status().unwrap();
    assert!(status.iter().any(|r| r.repo == "nobody/nothing" && r.last_error.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_limit_rotates_to_the_next_token() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    // The first token is spent for an hour: the run must go on with the second one, not wait.
    ctx.fake.fail("/pulls?", [Fault::PrimaryExhausted { reset_in: 3600 }]);
    let gh = ctx.client(&["token-one", "token-two"]);
    let started = Instant::now();
    let s = ctx.mine_with(&TestContext::options(&[REPO]), &gh, &Cancel::new()).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(s.repos[0].instances, 7);
    let reqs = ctx.server.received_requests().await.unwrap();
    let auth =
        |r: &wiremock::Request| r.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(auth(&reqs[0]).contains("token-one"));
    assert!(reqs[1..].iter().all(|r| auth(r).contains("token-two")), "later requests use the second token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_limit_with_one_token_waits_until_reset() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.fail("/pulls?", [Fault::PrimaryExhausted { reset_in: 1 }]);
    let started = Instant::now();
    let s = ctx.mine(&TestContext::options(&[REPO])).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "did not wait for the reset");
    assert!(s.rate_limit_wait_secs >= 1);
    assert_eq!(s.repos[0].instances, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_requests_are_retried() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.fail("/pulls/303/commits", [Fault::Slow(Duration::from_secs(3))]);
    let mut cfg = swegym_build::github::ClientConfig::new(ctx.fake.api_url(), vec![]);
    cfg.request_timeout = Duration::from_millis(500);
    cfg.retry_base = Duration::from_millis(5);
    let gh = std::sync::Arc::new(swegym_build::github::GitHub::new(cfg, std::sync::Arc::new(|_| {})).unwrap());
    let s = ctx.mine_with(&TestContext::options(&[REPO]), &gh, &Cancel::new()).await;
    assert_eq!(s.repos[0].failed, 0);
    assert_eq!(s.repos[0].instances, 7);
    assert_eq!(s.retries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enterprise_api_root_with_path_prefix() {
    let ctx = TestContext::with_prefix("/api/v3").await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    let s = ctx.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(s.repos[0].instances, 7);
    assert_eq!(s.requests_by_kind["pull_list"], 3, "Link URLs keep the /api/v3 prefix");
    assert!(requested_paths(&ctx).await.iter().all(|p| p.starts_with("/api/v3/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_run_then_resumed_equals_uninterrupted() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.set_delay(Duration::from_millis(15));
    let cancel = Cancel::new();
    let stopper = cancel.clone();
    let fake = ctx.fake.clone();
    tokio::spawn(async move {
        while fake.requests() < 12 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stopper.cancel();
    });
    let gh = ctx.client(&["t"]);
    let first = ctx.mine_with(&TestContext::options(&[REPO]), &gh, &cancel).await;
    assert!(first.interrupted);
    assert!(!first.repos[0].listing_complete);
    ctx.fake.set_delay(Duration::from_millis(0));
    ctx.mine(&TestContext::options(&[REPO])).await;

    let clean = TestContext::new().await;
    clean.fake.add_repo(REPO, scenario::scenario().repo);
    clean.mine(&TestContext::options(&[REPO])).await;
    assert_eq!(ctx.store().instances(false).unwrap(), clean.store().instances(false).unwrap());
    assert_eq!(outcomes(&ctx), outcomes(&clean));
}

#[test]
fn request_kinds_have_stable_names() {
    let names: Vec<&str> = RequestKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names, ["pull_list", "commits", "issue", "comments", "diff"]);
}
