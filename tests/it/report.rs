//! `report` on real SWE-Gym rows: published version and lists beside ours, per instance.

use serde_json::Value;
use swegym_build::store::{Access, OutcomeLists, PinRecord, Store, ValidationRecord};
use swegym_build::workspace::Workspace;

use crate::support::{stderr, stdout, TestContext};

fn sample() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/reference/swegym_sample.jsonl").to_string()
}

fn published(id: &str) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(sample()).unwrap();
    let row: Value =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|r| r["instance_id"] == id).unwrap();
    let list = |k: &str| row[k].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    (list("FAIL_TO_PASS"), list("PASS_TO_PASS"))
}

fn pin(id: &str, repo: &str, version: &str) -> PinRecord {
    PinRecord {
        instance_id: id.into(),
        repo: repo.into(),
        version: Some(version.into()),
        raw_version: Some(version.into()),
        method: Some("file:x".into()),
        reason: None,
        rule_hash: "h".into(),
    }
}

fn validation(id: &str, status: &str, reason: Option<&str>, lists: OutcomeLists) -> ValidationRecord {
    ValidationRecord {
        instance_id: id.into(),
        image: format!("swegym/eval.{id}:x"),
        settings_hash: "s".into(),
        status: status.into(),
        reason: reason.map(Into::into),
        detail: reason.map(|_| "ModuleNotFoundError: No module named 'torch'".into()),
        runs: 3,
        lists,
        seconds: 1.0,
        overhead: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_sets_published_rows_beside_ours_and_says_why() {
    let ctx = TestContext::new().await;
    let out = ctx.run(&["import", &sample()], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Nothing pinned yet: every row says what to run next.
    let out = ctx.run(&["--json", "report"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["compared"], 29);
    assert!(r["instances"].as_array().unwrap().iter().all(|i| i["status"] == "not pinned"));

    // moto 5876 as published; conan 10686 pinned differently and rejected; MONAI 2061 with one
    // FAIL_TO_PASS test more than published.
    let (moto, conan, monai) = ("getmoto__moto-5876", "conan-io__conan-10686", "Project-MONAI__MONAI-2061");
    {
        let mut store = Store::open(&Workspace::new(ctx.workspace()), Access::ReadWrite).unwrap();
        store
            .write_pins(&[
                pin(moto, "getmoto/moto", "4.1"),
                pin(conan, "conan-io/conan", "1.47"),
                pin(monai, "Project-MONAI/MONAI", "0.5"),
            ])
            .unwrap();
        let (f2p, p2p) = published(moto);
        let lists = OutcomeLists { fail_to_pass: f2p, pass_to_pass: p2p, ..OutcomeLists::default() };
        store.write_validation(&validation(moto, "curated", None, lists), &[]).unwrap();
        store
            .write_validation(&validation(conan, "rejected", Some("environment_broken"), OutcomeLists::default()), &[])
            .unwrap();
        let (mut f2p, p2p) = published(monai);
        f2p.push("tests/test_extra.py::test_new".into());
        let lists = OutcomeLists { fail_to_pass: f2p, pass_to_pass: p2p, ..OutcomeLists::default() };
        store.write_validation(&validation(monai, "curated", None, lists), &[]).unwrap();
    }
    let out = ctx.run(&["--json", "report", "--disagreements"], &[]).await;
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let find = |id: &str| r["instances"].as_array().unwrap().iter().find(|i| i["instance_id"] == id).cloned();
    assert!(find(moto).is_none(), "moto agrees on everything: {r:#}");
    let c = find(conan).unwrap();
    assert_eq!((c["version"]["published"].clone(), c["version"]["ours"].clone()), ("1.46".into(), "1.47".into()));
    assert_eq!(c["status"], "rejected");
    assert_eq!(c["reason"], "environment_broken: ModuleNotFoundError: No module named 'torch'");
    assert_eq!(c["fail_to_pass"]["missing"], serde_json::json!(published(conan).0));
    let m = find(monai).unwrap();
    assert_eq!(m["fail_to_pass"]["extra"], serde_json::json!(["tests/test_extra.py::test_new"]));
    assert_eq!(m["pass_to_pass"]["same"], true);
    assert_eq!(
        (r["validated"].clone(), r["fail_to_pass_same"].clone(), r["versions_same"].clone()),
        (3.into(), 1.into(), 2.into())
    );

    // The table names the same things for a person.
    let out = ctx.run(&["report", "--repo", "conan-io/conan"], &[]).await;
    let text = stdout(&out);
    assert!(text.contains("1.46 → 1.47") && text.contains("rejected"), "{text}");
    assert!(text.contains("conan-io__conan-10686: environment_broken"), "{text}");
    assert!(!text.contains("getmoto"), "--repo selects: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_naming_nothing_in_the_workspace_is_a_usage_error() {
    let ctx = TestContext::new().await;
    assert!(ctx.run(&["import", &sample()], &[]).await.status.success());
    for args in [
        &["pin", "--repo", "getmoto/mot"][..],
        &["build", "--repo", "getmoto/mot"],
        &["validate", "--repo", "getmoto/mot"],
        &["report", "--repo", "getmoto/mot"],
    ] {
        let out = ctx.run(args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--repo getmoto/mot: not in this workspace"), "{args:?}: {}", stderr(&out));
    }
    let out = ctx.run(&["report", "--repo", "GetMoto/Moto", "--instance", "getmoto__moto-1"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--instance getmoto__moto-1") && !err.contains("--repo"), "case-insensitive repo: {err}");
}
