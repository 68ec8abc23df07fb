//! `import`: published datasets into the workspace, as if mined, with their published values kept.

use serde_json::Value;
use swegym_build::context::Context;
use swegym_build::import::{import, ImportOptions, InputFormat};
use swegym_build::progress::Progress;
use swegym_build::recipe::RecipeBook;
use swegym_build::store::{Access, Store};
use swegym_build::workspace::Workspace;

use crate::lite_reference::{load, reference_path};
use crate::support::{stderr, stdout, TestContext};

fn published_rows(name: &str) -> Vec<Value> {
    std::fs::read_to_string(reference_path(name)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_the_reference_files_and_exports_them_unchanged() {
    let ctx = TestContext::new().await;
    for name in ["swebench_lite_test.jsonl", "swebench_lite_dev.jsonl"] {
        let path = reference_path(name);
        let out = ctx.run(&["import", path.to_str().unwrap()], &[]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("instances imported"), "{}", stdout(&out));
    }
    let store = ctx.store();
    let instances = store.instances(false).unwrap();
    assert_eq!(instances.len(), 323);
    let published = published_rows("swebench_lite_test.jsonl");
    let first = &published[0];
    let id = first["instance_id"].as_str().unwrap();
    let p = store.published(id).unwrap().expect("published values");
    assert_eq!(p.version.as_deref(), first["version"].as_str());
    assert_eq!(serde_json::json!(p.fail_to_pass), first["FAIL_TO_PASS"]);
    assert_eq!(serde_json::json!(p.pass_to_pass), first["PASS_TO_PASS"]);
    assert_eq!(p.environment_setup_commit.as_deref(), first["environment_setup_commit"].as_str());
    drop(store);

    // The raw export gives back every field as published (test IDs are not validated yet).
    let out = ctx.run(&["export", "--split", "raw", "--format", "jsonl"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let exported: Vec<Value> = std::fs::read_to_string(ctx.workspace().join("exports/raw.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), 323);
    for r in load("swebench_lite_test.jsonl") {
        let e = exported.iter().find(|e| e["instance_id"] == r.instance_id.as_str()).unwrap();
        for (k, v) in [
            ("repo", &r.repo),
            ("base_commit", &r.base_commit),
            ("patch", &r.patch),
            ("test_patch", &r.test_patch),
            ("problem_statement", &r.problem_statement),
            ("hints_text", &r.hints_text),
            ("created_at", &r.created_at),
        ] {
            assert_eq!(e[k].as_str(), Some(v.as_str()), "{} {k}", r.instance_id);
        }
    }
}

#[test]
fn parquet_with_json_string_lists_and_space_times() {
    let dir = tempfile::tempdir().unwrap();
    // A Parquet file the way some dumps look: lists as JSON strings, `created_at` with a space.
    let rows = published_rows("swebench_lite_dev.jsonl");
    let pq = dir.path().join("dump.parquet");
    {
        let db = duckdb::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE t (instance_id VARCHAR, repo VARCHAR, base_commit VARCHAR, patch VARCHAR, test_patch VARCHAR,
             problem_statement VARCHAR, hints_text VARCHAR, created_at VARCHAR, version VARCHAR,
             FAIL_TO_PASS VARCHAR, PASS_TO_PASS VARCHAR)",
        )
        .unwrap();
        let mut ins = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").unwrap();
        for r in &rows {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            ins.execute(duckdb::params![
                s("instance_id"),
                s("repo"),
                s("base_commit"),
                s("patch"),
                s("test_patch"),
                s("problem_statement"),
                s("hints_text"),
                s("created_at").replace('T', " ").trim_end_matches('Z').to_string(),
                s("version"),
                r["FAIL_TO_PASS"].to_string(),
                r["PASS_TO_PASS"].to_string(),
            ])
            .unwrap();
        }
        db.execute_batch(&format!("COPY t TO '{}' (FORMAT PARQUET)", pq.display())).unwrap();
    }
    let ws = Workspace::new(dir.path().join("ws"));
    let store = Store::open(&ws, Access::ReadWrite).unwrap();
    let recipes = RecipeBook::embedded().unwrap();
    let mut cx = Context::new(ws, store, swegym_build::git::DEFAULT_GIT_URL, recipes, Progress::hidden());
    let s = import(&mut cx, &ImportOptions { path: pq.clone(), format: None }).unwrap();
    assert_eq!((s.rows, s.imported), (23, 23));
    let store = &cx.store;
    let instances = store.instances(false).unwrap();
    for r in &rows {
        let id = r["instance_id"].as_str().unwrap();
        let i = instances.iter().find(|i| i.instance_id == id).unwrap();
        assert_eq!(i.created_at, r["created_at"].as_str().unwrap());
        let p = store.published(id).unwrap().unwrap();
        assert_eq!(serde_json::json!(p.fail_to_pass), r["FAIL_TO_PASS"]);
        assert_eq!(serde_json::json!(p.pass_to_pass), r["PASS_TO_PASS"]);
    }
    // Importing again changes nothing.
    let again = import(&mut cx, &ImportOptions { path: pq, format: Some(InputFormat::Parquet) }).unwrap();
    assert_eq!(again.imported, 23);
    assert_eq!(cx.store.instances(false).unwrap(), instances);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_name_file_and_line_and_change_nothing() {
    let ctx = TestContext::new().await;
    let f = ctx.dir.path().join("bad.jsonl");
    let good = std::fs::read_to_string(reference_path("swebench_lite_dev.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    let broken = first.replace("\"created_at\": \"", "\"created_at\": \"not a time ");
    std::fs::write(&f, format!("{first}\n{broken}\n")).unwrap();
    let out = ctx.run(&["import", f.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad.jsonl:2") && err.contains("created_at"), "{err}");
    assert!(ctx.store().instances(false).unwrap().is_empty(), "a failed import writes nothing");

    let unknown = ctx.dir.path().join("data.bin");
    std::fs::write(&unknown, b"\x00\x01").unwrap();
    let out = ctx.run(&["import", unknown.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--format"), "{}", stderr(&out));
}
