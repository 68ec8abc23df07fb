//! The real binary: exit codes, exports, status, secrets, kill-and-resume.

use std::time::Duration;

use serde_json::Value;
use swegym_build::store::{Access, Store};
use swegym_build::workspace::Workspace;

use crate::support::scenario::{self, REPO};
use crate::support::{all_files, contains_bytes, stderr, stdout, TestContext};

const SECRET: &str = "ghp_Sup3rSecretTok3nValue000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_never_reaches_database_logs_or_exports() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    // A failing request too, so error paths are logged.
    ctx.fake.fail("/issues/302", [crate::support::Fault::Status(500), crate::support::Fault::MalformedJson]);
    let mine = ctx.run(&["mine", "--repo", REPO, "-vv"], &[("GITHUB_TOKEN", SECRET), ("SWEGYM_LOG", "trace")]).await;
    assert_eq!(mine.status.code(), Some(3), "{}", stderr(&mine));
    let export = ctx.run(&["export", "--split", "raw"], &[("GITHUB_TOKEN", SECRET)]).await;
    assert!(export.status.success(), "{}", stderr(&export));
    let status = ctx.run(&["status", "--json"], &[("GITHUB_TOKEN", SECRET)]).await;
    assert!(status.status.success());

    // It was used …
    let reqs = ctx.server.received_requests().await.unwrap();
    assert!(reqs.iter().all(|r| r
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.ends_with(SECRET))));
    // … and is nowhere we write.
    let files = all_files(&ctx.workspace());
    assert!(files.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "log")), "a run log is written");
    assert!(files.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "duckdb")));
    assert!(files.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "parquet")));
    for (path, bytes) in &files {
        assert!(!contains_bytes(bytes, SECRET.as_bytes()), "token found in {}", path.display());
    }
    for out in [&mine, &export, &status] {
        assert!(!stdout(out).contains(SECRET) && !stderr(out).contains(SECRET));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_raw_jsonl_and_parquet_in_published_schema() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    let mine = ctx.run(&["mine", "--repo", REPO, "--json"], &[]).await;
    assert!(mine.status.success(), "{}", stderr(&mine));
    assert!(stderr(&mine).contains("no GITHUB_TOKEN"), "warns about the unauthenticated limit");
    let summary: Value = serde_json::from_str(&stdout(&mine)).expect("--json summary");
    assert_eq!(summary["repos"][0]["instances"], 7);
    assert!(summary["requests_total"].as_u64().unwrap() > 0);

    let out = ctx.dir.path().join("out");
    let export = ctx.run(&["export", "--split", "raw", "--out", out.to_str().unwrap()], &[]).await;
    assert!(export.status.success(), "{}", stderr(&export));

    let jsonl = std::fs::read_to_string(out.join("raw.jsonl")).unwrap();
    let rows: Vec<serde_json::Map<String, Value>> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Seven instances, one of them docs-only (empty test_patch) and so not exported.
    assert_eq!(rows.len(), 6);
    // Keys in the published order (read off the raw line: serde_json's Map sorts them).
    let first = jsonl.lines().next().unwrap();
    let order = [
        "instance_id",
        "repo",
        "base_commit",
        "patch",
        "test_patch",
        "problem_statement",
        "hints_text",
        "created_at",
        "version",
        "FAIL_TO_PASS",
        "PASS_TO_PASS",
        "pull_number",
        "issue_numbers",
    ];
    let positions: Vec<usize> =
        order.iter().map(|k| first.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("no {k}"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "keys out of order: {first}");
    assert_eq!(rows[0].len(), order.len());
    let ids: Vec<&str> = rows.iter().map(|r| r["instance_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "acme__widgets-301",
            "acme__widgets-303",
            "acme__widgets-306",
            "acme__widgets-308",
            "acme__widgets-310",
            "acme__widgets-316"
        ]
    );
    assert_eq!(rows[2]["issue_numbers"], serde_json::json!([304, 305]));
    assert_eq!(rows[0]["FAIL_TO_PASS"], serde_json::json!([]));
    assert_eq!(rows[0]["created_at"], "2024-03-13T13:00:00Z");

    // Parquet: same rows, SWE-Gym's column names and types.
    let db = duckdb::Connection::open_in_memory().unwrap();
    let pq = out.join("raw.parquet");
    let mut stmt = db.prepare(&format!("DESCRIBE SELECT * FROM read_parquet('{}')", pq.display())).unwrap();
    let cols: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let want = [
        ("instance_id", "VARCHAR"),
        ("repo", "VARCHAR"),
        ("base_commit", "VARCHAR"),
        ("patch", "VARCHAR"),
        ("test_patch", "VARCHAR"),
        ("problem_statement", "VARCHAR"),
        ("hints_text", "VARCHAR"),
        ("created_at", "VARCHAR"),
        ("version", "VARCHAR"),
        ("FAIL_TO_PASS", "VARCHAR[]"),
        ("PASS_TO_PASS", "VARCHAR[]"),
        ("pull_number", "BIGINT"),
        ("issue_numbers", "BIGINT[]"),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(cols, want);
    let n: i64 =
        db.query_row(&format!("SELECT count(*) FROM read_parquet('{}')", pq.display()), [], |r| r.get(0)).unwrap();
    assert_eq!(n, 6);
    let patch: String = db
        .query_row(
            &format!("SELECT patch FROM read_parquet('{}') WHERE instance_id = 'acme__widgets-301'", pq.display()),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(patch, rows[0]["patch"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_funnel_per_repo() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    let mine = ctx.run(&["mine", "--repo", REPO, "--repo", "ghost/repo", "-q"], &[]).await;
    assert_eq!(mine.status.code(), Some(3), "a missing repository is a partial failure: {}", stderr(&mine));
    assert!(stdout(&mine).contains("ghost/repo") && stdout(&mine).contains("not found"), "{}", stdout(&mine));

    let status = ctx.run(&["status", "--json"], &[]).await;
    assert!(status.status.success(), "{}", stderr(&status));
    let rows: Value = serde_json::from_str(&stdout(&status)).unwrap();
    let acme = rows.as_array().unwrap().iter().find(|r| r["repo"] == REPO).unwrap();
    assert_eq!(acme["pulls_scanned"], 233);
    assert_eq!(acme["merged"], 32);
    assert_eq!(acme["linked"], 8);
    assert_eq!(acme["instances"], 7);
    assert_eq!(acme["instances_with_tests"], 6);
    assert!(acme["requests"].as_u64().unwrap() >= 3 + 32);
    let table = ctx.run(&["status"], &[]).await;
    assert!(stdout(&table).contains("with tests"), "{}", stdout(&table));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_workspace_exits_4_naming_the_holder() {
    let ctx = TestContext::new().await;
    let _held = Store::open(&Workspace::new(ctx.workspace()), Access::ReadWrite).unwrap();
    // Every writing command, `refresh` (run from cron) included, refuses with its own exit code.
    for args in [vec!["mine", "--repo", REPO], vec!["refresh", "--repo", REPO], vec!["validate"], vec!["export"]] {
        let out = ctx.run(&args, &[]).await;
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("in use by another swegym-build run") && err.contains(&format!("pid {}", std::process::id())),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_and_say_what_to_do() {
    let ctx = TestContext::new().await;
    let none = ctx.run(&["mine"], &[]).await;
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("--repo OWNER/NAME"), "{}", stderr(&none));

    let bad = ctx.run(&["mine", "--repo", "https://github.com/a/b"], &[]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("OWNER/NAME"));

    let missing = ctx.run(&["status"], &[]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("swegym-build mine"), "{}", stderr(&missing));

    // serve off the loopback without a token: refused before anything listens.
    let open = ctx.run(&["serve", "--listen", "0.0.0.0:0"], &[]).await;
    assert_eq!(open.status.code(), Some(2), "{}", stderr(&open));
    assert!(stderr(&open).contains("SWEGYM_SERVE_TOKEN"), "{}", stderr(&open));
    let unreadable = ctx.run(&["evaluate", "--predictions", "/nonexistent/preds.jsonl"], &[]).await;
    assert_eq!(unreadable.status.code(), Some(2));
    assert!(
        stderr(&unreadable).contains("cannot read the predictions /nonexistent/preds.jsonl"),
        "{}",
        stderr(&unreadable)
    );
    let run_id = ctx.run(&["evaluate", "--predictions", "p.jsonl", "--run-id", "../up"], &[]).await;
    assert_eq!(run_id.status.code(), Some(2));
    assert!(stderr(&run_id).contains("names a directory"), "{}", stderr(&run_id));

    let help = ctx.run(&["mine", "--help"], &[]).await;
    assert!(help.status.success());
    for needle in ["--repos <FILE>", "--since <DATE>", "--max-pulls <N>", "--jobs <N>", "--full", "GITHUB_API_URL"] {
        assert!(stdout(&help).contains(needle), "--help lacks {needle}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_resumes_to_the_same_export() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.set_delay(Duration::from_millis(20));
    let mut child = ctx.cmd().args(["mine", "--repo", REPO, "-q"]).spawn().unwrap();
    while ctx.fake.requests() < 15 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap(); // SIGKILL: no chance to flush anything
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    ctx.fake.set_delay(Duration::from_millis(0));
    let resumed = ctx.run(&["mine", "--repo", REPO, "-q"], &[]).await;
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let a = ctx.run(&["export", "--split", "raw", "--format", "jsonl"], &[]).await;
    assert!(a.status.success(), "{}", stderr(&a));

    let clean = TestContext::new().await;
    clean.fake.add_repo(REPO, scenario::scenario().repo);
    assert!(clean.run(&["mine", "--repo", REPO, "-q"], &[]).await.status.success());
    assert!(clean.run(&["export", "--split", "raw", "--format", "jsonl"], &[]).await.status.success());
    let read = |c: &TestContext| std::fs::read_to_string(c.workspace().join("exports/raw.jsonl")).unwrap();
    assert_eq!(read(&ctx), read(&clean));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_token_stops_the_run_and_says_which_setting() {
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, scenario::scenario().repo);
    ctx.fake.fail("/pulls?", [crate::support::Fault::Status(401)]);
    let out = ctx.run(&["mine", "--repo", REPO, "--repo", "other/repo"], &[("GITHUB_TOKEN", "expired")]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("401") && err.contains("GITHUB_TOKEN"), "{err}");
    assert_eq!(ctx.fake.requests(), 1, "no request after a 401: the other repositories are not tried with a bad token");
}
