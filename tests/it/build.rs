//! `build` on this machine's Docker Engine, for real: a base image made from Debian's packages,
//! an environment and instance images for a scripted fixture repository, their checks; a second
//! build is a no-op; a broken recipe fails clearly and leaves no tag behind.

use std::time::Instant;

use serde_json::Value;
use swegym_build::cancel::Cancel;
use swegym_build::docker::{Engine, RunSpec};

use crate::support::fixture_repo::{git_url, instance_row, write_jsonl, FixtureRepo};
use crate::support::{stderr, stdout, TestContext};

const RECIPE: &str = r#"
repo = "acme/calc"
[version]
rule = "file"
file = "calc/__init__.py"
pattern = '''__version__\s*=\s*"([^"]+)"'''
[[env]]
python = "3.11"
packages = ["pytest"]
env_vars = { PYTHONPATH = "/testbed" }
test_cmd = "pytest -rA"
"#;

pub struct Calc {
    pub root: tempfile::TempDir,
    pub recipes: std::path::PathBuf,
    pub jsonl: std::path::PathBuf,
    pub bases: Vec<String>,
}

/// `acme/calc`: two issue-fixing PRs, each with a failing-then-passing test.
pub fn calc() -> Calc {
    let root = tempfile::tempdir().unwrap();
    let mut r = FixtureRepo::new(root.path(), "acme/calc");
    let c1 = r.commit(
        &[
            ("calc/__init__.py", "__version__ = \"1.0.0\"\n\ndef add(a, b):\n    return a - b\n"),
            ("tests/test_calc.py", "from calc import add\n\ndef test_zero():\n    assert add(0, 0) == 0\n"),
            ("README.md", "calc\n"),
        ],
        "initial",
    );
    let c2 = r.commit(
        &[
            ("calc/__init__.py", "__version__ = \"1.0.0\"\n\ndef add(a, b):\n    return a + b\n"),
            ("tests/test_calc.py", "from calc import add\n\ndef test_zero():\n    assert add(0, 0) == 0\n\ndef test_add():\n    assert add(2, 3) == 5\n"),
        ],
        "fix add (#1)",
    );
    let c3 = r.commit(
        &[(
            "calc/__init__.py",
            "__version__ = \"1.0.1\"\n\ndef add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return a + b\n",
        )],
        "mul",
    );
    let c4 = r.commit(
        &[
            (
                "calc/__init__.py",
                "__version__ = \"1.0.1\"\n\ndef add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return a * b\n",
            ),
            ("tests/test_mul.py", "from calc import mul\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"),
        ],
        "fix mul (#2)",
    );
    // Commits after the fixes: instance images must not contain them.
    r.commit(&[("calc/extra.py", "X = 1\n")], "later work");
    r.tag("v9.9.9");
    let rows = vec![
        instance_row(
            "acme/calc",
            1,
            &c1,
            &r.diff(&c1, &c2, &["calc"]),
            &r.diff(&c1, &c2, &["tests"]),
            "2024-02-01T00:00:00Z",
            Some("1.0"),
        ),
        instance_row(
            "acme/calc",
            2,
            &c3,
            &r.diff(&c3, &c4, &["calc"]),
            &r.diff(&c3, &c4, &["tests"]),
            "2024-02-02T00:00:00Z",
            Some("1.0"),
        ),
    ];
    let jsonl = write_jsonl(root.path(), "calc.jsonl", &rows);
    let recipes = root.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("acme__calc.toml"), RECIPE).unwrap();
    Calc { root, recipes, jsonl, bases: vec![c1, c3] }
}

/// The fixture imported, pinned, built (`build_args` and `extra`) and validated once (one run per
/// phase) in `ctx`'s workspace; returns it with its first row (acme__calc-1) as published.
pub async fn calc_validated(ctx: &TestContext, extra: &[&str]) -> (Calc, Value) {
    let fx = calc();
    let url = git_url(fx.root.path());
    let envs = [("SWEGYM_GIT_URL", url.as_str())];
    let recipes = fx.recipes.to_str().unwrap();
    let mut build = build_args(recipes);
    build.extend_from_slice(extra);
    let steps = [
        vec!["import", fx.jsonl.to_str().unwrap()],
        vec!["pin", "--recipes", recipes],
        build,
        vec!["validate", "--runs", "1"],
    ];
    for args in steps {
        let out = ctx.run(&args, &envs).await;
        assert!(out.status.success(), "{args:?}: {}\n{}", stdout(&out), stderr(&out));
    }
    let rows = std::fs::read_to_string(&fx.jsonl).unwrap();
    let first: Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
    (fx, first)
}

/// Docker tests run one at a time: they share the base image, which the first one builds.
pub static DOCKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn build_args(recipes: &str) -> Vec<&str> {
    vec!["--json", "build", "--recipes", recipes, "--base", "debootstrap", "--jobs", "2"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_makes_checked_images_on_a_local_base_and_a_second_build_is_a_noop() {
    let _one = DOCKER.lock().await;
    let ctx = TestContext::new().await;
    let fx = calc();
    let url = git_url(fx.root.path());
    let envs = [("SWEGYM_GIT_URL", url.as_str())];
    let out = ctx.run(&["import", fx.jsonl.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let recipes = fx.recipes.to_str().unwrap();
    let out = ctx.run(&["pin", "--recipes", recipes], &envs).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // --force: other tests build the same fixture, so its images may be in the engine already
    // (and would be adopted, below); this build must really build and check them.
    let mut first = build_args(recipes);
    first.push("--force");
    let out = ctx.run(&first, &envs).await;
    assert!(out.status.success(), "build: {}\n{}", stdout(&out), stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["failed"], 0, "{summary:#}");
    assert_eq!(summary["built"], 3, "{summary:#}");
    let images = summary["images"].as_array().unwrap();
    let tiers: Vec<&str> = images.iter().map(|i| i["tier"].as_str().unwrap()).collect();
    assert_eq!(tiers.iter().filter(|t| **t == "env").count(), 1, "{summary:#}");
    assert_eq!(tiers.iter().filter(|t| **t == "instance").count(), 2, "{summary:#}");

    // Every check passed and is recorded.
    let store = ctx.store();
    let recorded = store.images().unwrap();
    let base = recorded.iter().find(|i| i.tier == "base").expect("base image recorded");
    assert_eq!(base.python_used.as_deref(), Some("3.11"));
    assert_eq!(base.base_source.as_deref(), Some("debootstrap:bookworm"));
    for i in recorded.iter().filter(|i| i.tier == "instance") {
        assert_eq!(i.status, "built", "{i:?}");
        let names: Vec<&str> = i.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["import", "dated", "integrity", "collect"], "{i:?}");
        assert!(i.checks.iter().all(|c| c.ok), "{i:?}");
        // One thin layer: the files that differ from the environment's checkout and a small
        // repository, not a second copy of the checkout.
        assert!(i.size_bytes.unwrap() < 1_000_000, "{i:?}");
    }
    drop(store);

    // Inside an instance image: the repo at base_commit, no later history, labels with the inputs.
    let engine = Engine::connect().await.unwrap();
    let inst1 =
        images.iter().find(|i| i["instance_id"] == "acme__calc-1").unwrap()["tag"].as_str().unwrap().to_string();
    let info = engine.image(&inst1).await.unwrap().expect("instance image exists");
    assert_eq!(info.labels.get("swegym.base_commit"), Some(&fx.bases[0]));
    // The environment's checkout is at the later commit (mul, extra files): none of it shows.
    let mut spec = RunSpec::new(
        &inst1,
        "git rev-parse HEAD; git log --oneline | wc -l; git tag | wc -l; ls calc; \
         grep -c mul calc/__init__.py; git status --porcelain | wc -l; pwd; \
         python -c 'import calc; print(calc.add(2, 3))'; \
         python -c 'import socket; print(socket.gethostbyname(\"localhost\"))'; \
         python -c 'import urllib.request; urllib.request.urlopen(\"http://pypi.org\", timeout=5)' 2>/dev/null || echo offline; \
         n=$(git cat-file --batch-all-objects --batch-check | wc -l); r=$(git rev-list --objects --all | wc -l); \
         [ $n = $r ] && echo objects-exact || echo objects $n reachable $r; \
         ls .git/objects/pack | grep -c '[.]pack$'; git fsck --no-progress 2>&1 | wc -l",
    );
    spec.workdir = None;
    let run = engine.run(&spec, &Cancel::new()).await.unwrap();
    let lines: Vec<&str> = run.output.lines().collect();
    // No network, but `localhost` resolves (tests that start a local server need it). The
    // repository holds exactly base_commit's objects: the environment's it shares stayed loose
    // below, the rest came in one pack, and git finds nothing amiss.
    let expected = [
        fx.bases[0].as_str(),
        "1",
        "0",
        "__init__.py",
        "0",
        "0",
        "/testbed",
        "-1",
        "127.0.0.1",
        "offline",
        "objects-exact",
        "1",
        "0",
    ];
    assert_eq!(lines, expected, "{}", run.output);

    // Nothing changed: nothing is rebuilt, and it takes seconds.
    let t = Instant::now();
    let out = ctx.run(&build_args(recipes), &envs).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let again: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(again["built"], 0, "{again:#}");
    assert_eq!(again["reused"], 3, "{again:#}");
    assert!(t.elapsed().as_secs() < 30, "second build took {:?}", t.elapsed());

    // Only checked images carry real tags; no staging tag is left.
    let ours = engine.images_with_label("swegym.tier").await.unwrap();
    let staging: Vec<&String> = ours.iter().flat_map(|i| &i.tags).filter(|t| t.ends_with("-unchecked")).collect();
    assert!(staging.is_empty(), "{staging:?}");

    // Another workspace on the same engine adopts the checked images instead of rebuilding them.
    let other = TestContext::new().await;
    for args in [vec!["import", fx.jsonl.to_str().unwrap()], vec!["pin", "--recipes", recipes]] {
        assert!(other.run(&args, &envs).await.status.success());
    }
    let out = other.run(&build_args(recipes), &envs).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let adopted: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((adopted["built"].clone(), adopted["reused"].clone()), (0.into(), 3.into()), "{adopted:#}");
    let recorded = other.store().images().unwrap();
    assert_eq!(recorded.iter().filter(|i| i.tier == "instance" && i.status == "built").count(), 2, "{recorded:?}");

    // `status` shows the images and their disk use.
    let out = ctx.run(&["--json", "status"], &[]).await;
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(status[0]["envs_built"], 1, "{status:#}");
    assert_eq!(status[0]["images_built"], 2, "{status:#}");
    assert!(status[0]["image_bytes"].as_u64().unwrap() > 0, "{status:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_recipe_fails_with_its_cause_and_leaves_no_image_tagged() {
    let _one = DOCKER.lock().await;
    let ctx = TestContext::new().await;
    let fx = calc();
    let url = git_url(fx.root.path());
    let envs = [("SWEGYM_GIT_URL", url.as_str())];
    let broken = RECIPE.replace(
        "packages = [\"pytest\"]",
        "packages = [\"pytest\"]\ninstall = [\"pip install -r requirements-that-do-not-exist.txt\"]",
    );
    std::fs::write(fx.recipes.join("acme__calc.toml"), broken).unwrap();
    ctx.run(&["import", fx.jsonl.to_str().unwrap()], &[]).await;
    let recipes = fx.recipes.to_str().unwrap();
    let out = ctx.run(&["pin", "--recipes", recipes], &envs).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = ctx.run(&build_args(recipes), &envs).await;
    assert_eq!(out.status.code(), Some(3), "{}\n{}", stdout(&out), stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let env = summary["images"].as_array().unwrap().iter().find(|i| i["tier"] == "env").unwrap().clone();
    assert_eq!(env["state"], "failed", "{summary:#}");
    let err = env["error"].as_str().unwrap();
    assert!(err.contains("requirements-that-do-not-exist.txt"), "the log's last lines: {err}");
    assert!(err.contains("likely cause"), "{err}");
    assert_eq!(summary["images"].as_array().unwrap().iter().filter(|i| i["tier"] == "instance").count(), 0);
    // Its instances are named, not silently left out.
    assert_eq!(summary["blocked"], serde_json::json!(["acme__calc-1", "acme__calc-2"]), "{summary:#}");
    let engine = Engine::connect().await.unwrap();
    assert!(engine.image(env["tag"].as_str().unwrap()).await.unwrap().is_none(), "no image is tagged as good");
}
