//! `pin` on scripted repositories: a version file + regex, versioneer-style tags, packaging
//! metadata without a recipe, and no version at all; environment commits, Python, cut-off;
//! agreement with published versions; recipe errors.

use serde_json::Value;

use crate::support::fixture_repo::{git_url, instance_row, write_jsonl, FixtureRepo};
use crate::support::{stderr, stdout, TestContext};

const RECIPES: &[(&str, &str)] = &[
    (
        "acme__filever.toml",
        r#"
repo = "acme/filever"
[version]
rule = "file"
file = ["src/filever/__init__.py", "filever/__init__.py"]
pattern = '''__version__\s*=\s*["']([^"']+)["']'''
[[env]]
versions = "<1.3"
python = "3.9"
test_cmd = "pytest -rA"
[[env]]
python = "3.11"
test_cmd = "pytest -rA"
"#,
    ),
    (
        "acme__tagged.toml",
        r#"
repo = "acme/tagged"
[version]
rule = "tag"
pattern = '^v(\d+\.\d+)'
[[env]]
python = "3.12"
test_cmd = "pytest -rA"
"#,
    ),
];

struct Fixtures {
    _root: tempfile::TempDir,
    url: String,
    recipes: std::path::PathBuf,
    jsonl: std::path::PathBuf,
    filever: Vec<String>,
    tagged: Vec<String>,
}

const TEST_PATCH: &str = "diff --git a/tests/test_x.py b/tests/test_x.py\n--- a/tests/test_x.py\n+++ b/tests/test_x.py\n@@ -1 +1 @@\n-x\n+y\n";

fn fixtures() -> Fixtures {
    let root = tempfile::tempdir().unwrap();
    // A version file that moves from filever/ to src/filever/.
    let mut f = FixtureRepo::new(root.path(), "acme/filever");
    let f1 = f.commit(&[("filever/__init__.py", "__version__ = '1.2.0'\n")], "one");
    let f2 = f.commit(&[("filever/__init__.py", "__version__ = \"1.2.1.dev0\"\n")], "two");
    f.git(&["rm", "-q", "filever/__init__.py"]);
    let f3 = f.commit(&[("src/filever/__init__.py", "__version__ = \"1.3.0+dev\"\n")], "three");
    // versioneer / setuptools-scm: the version is the nearest tag.
    let mut t = FixtureRepo::new(root.path(), "acme/tagged");
    let t1 = t.commit(&[("tagged.py", "x = 1\n")], "one");
    t.tag("v0.9.0");
    let t2 = t.commit(&[("tagged.py", "x = 2\n")], "two");
    t.tag("v0.10.0");
    let t3 = t.commit(&[("tagged.py", "x = 3\n")], "three");
    // Tags that are not versions (or not the recipe's) are skipped, unlike plain `git describe`.
    t.tag("nightly");
    t.tag("expr-v1.1.0");
    // No recipe: packaging metadata gives version and Python.
    let mut s = FixtureRepo::new(root.path(), "acme/setuponly");
    let s1 = s.commit(
        &[(
            "setup.py",
            "from setuptools import setup\nsetup(name='setuponly', version='2.4.1', python_requires='>=3.7',\n\
             classifiers=['Programming Language :: Python :: 3.8', 'Programming Language :: Python :: 3.10'])\n",
        )],
        "one",
    );
    // No recipe, no version anywhere, no tag.
    let mut n = FixtureRepo::new(root.path(), "acme/noversion");
    let n1 = n.commit(&[("main.py", "print('hi')\n")], "one");

    let rows = vec![
        instance_row("acme/filever", 1, &f1, "p", TEST_PATCH, "2024-02-01T00:00:00Z", Some("1.2")),
        instance_row("acme/filever", 2, &f2, "p", TEST_PATCH, "2024-02-03T00:00:00Z", Some("1.2")),
        instance_row("acme/filever", 3, &f3, "p", TEST_PATCH, "2024-02-02T00:00:00Z", Some("1.4")),
        instance_row("acme/tagged", 1, &t1, "p", TEST_PATCH, "2024-02-01T00:00:00Z", Some("0.9")),
        instance_row("acme/tagged", 2, &t2, "p", TEST_PATCH, "2024-02-02T00:00:00Z", None),
        instance_row("acme/tagged", 3, &t3, "p", TEST_PATCH, "2024-02-03T00:00:00Z", None),
        instance_row("acme/setuponly", 1, &s1, "p", TEST_PATCH, "2024-02-01T00:00:00Z", None),
        instance_row("acme/noversion", 1, &n1, "p", TEST_PATCH, "2024-02-01T00:00:00Z", None),
    ];
    let jsonl = write_jsonl(root.path(), "instances.jsonl", &rows);
    let recipes = root.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    for (name, text) in RECIPES {
        std::fs::write(recipes.join(name), text).unwrap();
    }
    Fixtures {
        url: git_url(root.path()),
        _root: root,
        recipes,
        jsonl,
        filever: vec![f1, f2, f3],
        tagged: vec![t1, t2, t3],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_reads_file_regex_tag_and_metadata_versions_and_records_missing_ones() {
    let ctx = TestContext::new().await;
    let fx = fixtures();
    let out = ctx.run(&["import", fx.jsonl.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let recipes = fx.recipes.to_str().unwrap();
    let out = ctx.run(&["--json", "pin", "--recipes", recipes], &[("SWEGYM_GIT_URL", &fx.url)]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["pinned"], 7, "{summary:#}");
    assert_eq!(summary["not_found"], 1, "{summary:#}");

    let store = ctx.store();
    let pin = |id: &str| store.pin(id).unwrap().unwrap();
    assert_eq!(pin("acme__filever-1").version.as_deref(), Some("1.2"));
    assert_eq!(pin("acme__filever-1").method.as_deref(), Some("file:filever/__init__.py"));
    assert_eq!(pin("acme__filever-2").raw_version.as_deref(), Some("1.2.1.dev0"));
    assert_eq!(pin("acme__filever-3").version.as_deref(), Some("1.3"));
    assert_eq!(pin("acme__filever-3").method.as_deref(), Some("file:src/filever/__init__.py"));
    assert_eq!(pin("acme__tagged-1").version.as_deref(), Some("0.9"));
    assert_eq!(pin("acme__tagged-2").version.as_deref(), Some("0.10"));
    assert_eq!(pin("acme__tagged-3").version.as_deref(), Some("0.10"), "nearest version tag, past `nightly`");
    assert_eq!(pin("acme__setuponly-1").version.as_deref(), Some("2.4"));
    assert_eq!(pin("acme__setuponly-1").method.as_deref(), Some("fallback:setup.py"));
    let missing = pin("acme__noversion-1");
    assert_eq!(missing.version, None);
    assert!(missing.reason.as_deref().unwrap().contains("no tag is reachable"), "{missing:?}");

    let versions = store.versions().unwrap();
    let v = |repo: &str, version: &str| versions.iter().find(|v| v.repo == repo && v.version == version).unwrap();
    // The environment commit is the base commit of the most recently *created* instance.
    assert_eq!(v("acme/filever", "1.2").env_commit, fx.filever[1]);
    assert_eq!(v("acme/filever", "1.2").python, "3.9");
    assert_eq!(v("acme/filever", "1.2").python_source, "recipe");
    assert_eq!(v("acme/filever", "1.3").python, "3.11");
    assert_eq!(v("acme/filever", "1.2").cutoff, "2024-01-02T10:00:00Z", "the env commit's date");
    assert_eq!(v("acme/tagged", "0.10").env_commit, fx.tagged[2]);
    assert_eq!(v("acme/tagged", "0.10").instances, 2);
    assert_eq!(v("acme/setuponly", "2.4").python, "3.10");
    assert_eq!(v("acme/setuponly", "2.4").python_source, "classifiers:setup.py");
    assert_eq!(v("acme/setuponly", "2.4").recipe, "none");
    assert!(versions.iter().all(|v| v.repo != "acme/noversion"));

    // Agreement with published versions: filever 2 of 3 (published 1.4 is wrong), tagged 1 of 1.
    let repos = summary["repos"].as_array().unwrap();
    let r = |name: &str| repos.iter().find(|r| r["repo"] == name).unwrap().clone();
    assert_eq!(
        (r("acme/filever")["published_agree"].clone(), r("acme/filever")["published_compared"].clone()),
        (2.into(), 3.into())
    );
    let d = &r("acme/filever")["disagreements"][0];
    assert_eq!((d["instance_id"].clone(), d["published"].clone()), ("acme__filever-3".into(), "1.4".into()), "{d}");
    assert_eq!(r("acme/tagged")["published_agree"], 1);
    drop(store);

    // `status` shows it too.
    let out = ctx.run(&["status"], &[]).await;
    assert!(stdout(&out).contains("2/3"), "{}", stdout(&out));

    // Nothing new: a second run pins nothing (the missing one is tried again, cheaply).
    let out = ctx.run(&["--json", "pin", "--recipes", recipes], &[("SWEGYM_GIT_URL", &fx.url)]).await;
    let again: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(again["pinned"], 0, "{again:#}");
    assert_eq!(again["not_found"], 1, "{again:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_recipe_is_reported_with_file_line_and_field() {
    let ctx = TestContext::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acme__bad.toml"),
        "repo = \"acme/bad\"\n[version]\nrule = \"file\"\nfile = \"v.py\"\npattern = 'v=(\\d+'\n[[env]]\npython = \"3.11\"\ntest_cmd = \"pytest\"\n",
    )
    .unwrap();
    let out = ctx.run(&["pin", "--recipes", dir.path().to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("acme__bad.toml:5: version.pattern: not a valid regular expression"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_whose_mirror_cannot_be_cloned_is_reported_not_dropped() {
    let ctx = TestContext::new().await;
    let fx = fixtures();
    ctx.run(&["import", fx.jsonl.to_str().unwrap()], &[]).await;
    let out = ctx.run(&["pin", "--repo", "acme/filever"], &[("SWEGYM_GIT_URL", "file:///nonexistent/{repo}")]).await;
    assert_eq!(out.status.code(), Some(3), "partial: {}", stdout(&out));
    assert!(stdout(&out).contains("SWEGYM_GIT_URL"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_on_a_shallow_mirror_pins_what_its_history_holds_and_says_what_it_cannot() {
    let ctx = TestContext::new().await;
    let fx = fixtures();
    let out = ctx.run(&["import", fx.jsonl.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // A CI cache's mirror: only the newest commit of acme/tagged (its tags there are not versions).
    let upstream = fx.url.replace("{repo}", "acme/tagged");
    let mirror = ctx.workspace().join("mirrors/acme__tagged.git");
    let clone = std::process::Command::new("git")
        .args(["clone", "-q", "--bare", "--depth", "1", &upstream, mirror.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(clone.status.success(), "{}", String::from_utf8_lossy(&clone.stderr));

    let recipes = fx.recipes.to_str().unwrap();
    let args = ["--json", "pin", "--repo", "acme/tagged", "--recipes", recipes];
    let out = ctx.run(&args, &[("SWEGYM_GIT_URL", &fx.url)]).await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("object not found"), "{}", stdout(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["repos"][0]["error"], Value::Null, "{summary:#}");
    assert_eq!(summary["repos"][0]["incomplete"], 1, "{summary:#}");

    let store = ctx.store();
    let newest = store.pin("acme__tagged-3").unwrap().unwrap();
    assert_eq!(newest.version, None, "v0.10.0 lies beyond the shallow boundary");
    let why = newest.reason.unwrap_or_default();
    assert!(why.starts_with("shallow history") && why.contains("fetch more"), "{why}");
    // The older instances' commits lie below the boundary: fetching refs cannot bring them, and
    // each says how to deepen the copy.
    for id in ["acme__tagged-1", "acme__tagged-2"] {
        let p = store.pin(id).unwrap().unwrap();
        let why = p.reason.unwrap_or_default();
        assert!(p.version.is_none() && why.contains("is shallow: deepen it"), "{id}: {why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_fetched_mid_run_sees_the_tags_that_came_with_it() {
    let ctx = TestContext::new().await;
    let fx = fixtures();
    assert!(ctx.run(&["import", fx.jsonl.to_str().unwrap()], &[]).await.status.success());
    let recipes = fx.recipes.to_str().unwrap();
    let pin = ["pin", "--repo", "acme/tagged", "--recipes", recipes];
    assert!(ctx.run(&pin, &[("SWEGYM_GIT_URL", &fx.url)]).await.status.success(), "first run clones the mirror");
    // Upstream moves on: a new release tag, and an instance at it.
    let mut t = FixtureRepo::new(fx._root.path(), "acme/tagged");
    let t4 = t.commit(&[("tagged.py", "x = 4\n")], "four");
    t.tag("v0.11.0");
    let row = instance_row("acme/tagged", 4, &t4, "p", TEST_PATCH, "2024-02-04T00:00:00Z", Some("0.11"));
    let jsonl = write_jsonl(fx._root.path(), "more.jsonl", &[row]);
    assert!(ctx.run(&["import", jsonl.to_str().unwrap()], &[]).await.status.success());
    // Instance 1 reads the mirror's tags first; instance 4 then fetches its commit and the new tag.
    let out = ctx.run(&[&pin[..], &["--force"]].concat(), &[("SWEGYM_GIT_URL", &fx.url)]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let p = ctx.store().pin("acme__tagged-4").unwrap().unwrap();
    assert_eq!(p.version.as_deref(), Some("0.11"), "{p:?}");
}
