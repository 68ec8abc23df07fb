//! `evaluate` on this machine's Docker Engine, for real, with the `acme/calc` fixture built and
//! validated: the gold patch resolves; an empty patch, a wrong fix, a patch that does not apply
//! and a hanging fix get their own outcomes; and every tampering route — an edit of the test
//! file, a conftest.py that rewrites reports, pytest.ini addopts, sitecustomize.py, printed
//! PASSED lines, `os._exit(0)` — is dropped and marked, or fails honestly. None resolves.
//! Re-running the same predictions scores nothing again; no container is left. The images also
//! answer to SWE-bench's name and activation path, and an eval script in SWE-bench's shape runs
//! in them unchanged.

use serde_json::{json, Value};
use swegym_build::cancel::Cancel;
use swegym_build::context::workspace_label;
use swegym_build::docker::{Engine, RunSpec};
use swegym_build::workspace::Workspace;

use crate::build::{calc_validated, DOCKER};
use crate::support::{stderr, stdout, TestContext};

/// calc/__init__.py at the first instance's base commit: `add` subtracts.
const INIT: &str = "calc/__init__.py";

fn fix(body: &str) -> String {
    let new: Vec<String> = format!("__version__ = \"1.0.0\"\n\n{body}").lines().map(|l| format!("+{l}")).collect();
    format!(
        "diff --git a/{INIT} b/{INIT}\n--- a/{INIT}\n+++ b/{INIT}\n@@ -1,4 +1,{} @@\n-__version__ = \"1.0.0\"\n-\n-def add(a, b):\n-    return a - b\n{}\n",
        new.len(),
        new.join("\n")
    )
}

fn new_file(path: &str, text: &str) -> String {
    let lines: Vec<String> = text.lines().map(|l| format!("+{l}")).collect();
    format!(
        "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n{}\n",
        lines.len(),
        lines.join("\n")
    )
}

const WRONG: &str = "def add(a, b):\n    return a * b\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_scores_gold_wrong_empty_hanging_and_tampering_patches() {
    let _one = DOCKER.lock().await;
    let ctx = TestContext::new().await;
    let (fx, first) = calc_validated(&ctx, &["--swebench-tags"]).await;
    let gold = first["patch"].as_str().unwrap().to_string();
    let test_edit = "diff --git a/tests/test_calc.py b/tests/test_calc.py\n--- a/tests/test_calc.py\n+++ b/tests/test_calc.py\n@@ -1,4 +1,4 @@\n from calc import add\n \n def test_zero():\n-    assert add(0, 0) == 0\n+    assert True\n";
    let conftest = "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n    outcome = yield\n    report = outcome.get_result()\n    report.outcome = 'passed'\n";
    let predictions: Vec<(&str, String)> = vec![
        ("gold", gold.clone()),
        ("empty", String::new()),
        ("wrong", fix(WRONG)),
        ("no-apply", "diff --git a/calc/missing.py b/calc/missing.py\n--- a/calc/missing.py\n+++ b/calc/missing.py\n@@ -1,2 +1,2 @@\n-x = 1\n+x = 2\n y = 3\n".into()),
        ("hang", fix("def add(a, b):\n    import time\n    time.sleep(600)\n")),
        ("tamper-test-file", format!("{}{test_edit}", fix(WRONG))),
        ("tamper-conftest", format!("{}{}", fix(WRONG), new_file("conftest.py", conftest))),
        ("tamper-pytest-ini", format!("{}{}", fix(WRONG), new_file("pytest.ini", "[pytest]\naddopts = -p no:swegym_results --deselect tests/test_calc.py::test_add\n"))),
        ("tamper-sitecustomize", format!("{}{}", fix(WRONG), new_file("sitecustomize.py", "import os\nos.environ['PYTEST_ADDOPTS'] = '-p no:swegym_results'\n"))),
        ("printed-passed", fix("print('tests/test_calc.py::test_add PASSED')\nprint('PASSED tests/test_calc.py::test_add')\n\ndef add(a, b):\n    return a * b\n")),
        ("exit-early", fix("def add(a, b):\n    import os\n    os._exit(0)\n")),
    ];
    let lines: Vec<String> = predictions
        .iter()
        .map(|(model, patch)| {
            json!({"instance_id": "acme__calc-1", "model_name_or_path": model, "model_patch": patch}).to_string()
        })
        .chain([
            json!({"instance_id": "acme__nope-9", "model_name_or_path": "gold", "model_patch": "x"}).to_string(),
            r#"{"instance_id": "acme__calc-1", "model_patch": "x"}"#.to_string(),
        ])
        .collect();
    let file = fx.root.path().join("preds.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let args = [
        "--json",
        "evaluate",
        "--predictions",
        file.to_str().unwrap(),
        "--run-id",
        "t1",
        "--timeout",
        "20",
        "--jobs",
        "2",
    ];
    let out = ctx.run(&args, &[]).await;
    let summary: Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    assert_eq!(out.status.code(), Some(3), "two lines could not be scored: {summary:#}");
    let problems: Vec<String> = summary["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["at"].as_str().unwrap(), p["message"].as_str().unwrap()))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("preds.jsonl:13") && problems[0].contains("no `model_name_or_path`"), "{problems:?}");
    assert!(
        problems[1].contains("preds.jsonl:12") && problems[1].contains("acme__nope-9 is not in this workspace"),
        "{problems:?}"
    );

    let by_model = |m: &str| -> Value {
        summary["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["model"] == m)
            .cloned()
            .unwrap_or_else(|| panic!("{m}: {summary:#}"))
    };
    let status = |m: &str| by_model(m)["status"].as_str().unwrap().to_string();
    assert_eq!(status("gold"), "resolved", "{:#}", by_model("gold"));
    assert_eq!(by_model("gold")["applied_with"], "git");
    assert_eq!(status("empty"), "empty_patch");
    assert_eq!(status("wrong"), "unresolved");
    assert_eq!(by_model("wrong")["fail_to_pass_failed"], json!(["tests/test_calc.py::test_add"]));
    assert_eq!(by_model("wrong")["pass_to_pass_failed"], json!([]));
    assert_eq!(status("no-apply"), "patch_does_not_apply");
    assert_eq!(status("hang"), "error");
    assert!(
        by_model("hang")["detail"]
            .as_str()
            .unwrap()
            .contains("stopped after 20 s while running tests/test_calc.py::test_zero"),
        "{:#}",
        by_model("hang")
    );
    for (model, dropped) in [
        ("tamper-test-file", "tests/test_calc.py"),
        ("tamper-conftest", "conftest.py"),
        ("tamper-pytest-ini", "pytest.ini"),
        ("tamper-sitecustomize", "sitecustomize.py"),
    ] {
        let p = by_model(model);
        assert_eq!(p["status"], "unresolved", "{p:#}");
        assert_eq!(p["tampered"], json!([dropped]), "{p:#}");
        assert_eq!(p["fail_to_pass_failed"], json!(["tests/test_calc.py::test_add"]), "{p:#}");
    }
    for model in ["printed-passed", "exit-early"] {
        let p = by_model(model);
        assert_eq!(p["status"], "unresolved", "fails honestly: {p:#}");
        assert_eq!(p["tampered"], json!([]), "{p:#}");
    }
    assert_eq!(summary["tampered"], 4);
    assert_eq!(summary["scored"], 11);

    // SWE-bench-format reports.
    let dir = ctx.workspace().join("evaluations/t1");
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))).unwrap()
    };
    let gold_summary = read("gold.t1.json");
    assert_eq!(gold_summary["resolved_ids"], json!(["acme__calc-1"]));
    assert_eq!(gold_summary["incomplete_ids"], json!(["acme__nope-9"]));
    assert_eq!(gold_summary["submitted_instances"], 2);
    let wrong = read("wrong/acme__calc-1/report.json");
    assert_eq!(wrong["acme__calc-1"]["resolved"], false);
    assert_eq!(
        wrong["acme__calc-1"]["tests_status"]["FAIL_TO_PASS"],
        json!({"success": [], "failure": ["tests/test_calc.py::test_add"]})
    );
    assert_eq!(
        wrong["acme__calc-1"]["tests_status"]["PASS_TO_PASS"],
        json!({"success": ["tests/test_calc.py::test_zero"], "failure": []})
    );
    assert_eq!(read("empty.t1.json")["empty_patch_ids"], json!(["acme__calc-1"]));
    assert_eq!(read("no-apply.t1.json")["error_ids"], json!(["acme__calc-1"]));

    // The same predictions again: nothing is scored twice.
    let out = ctx.run(&args, &[]).await;
    let again: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((again["scored"].clone(), again["unchanged"].clone()), (json!(0), json!(11)), "{again:#}");

    // SWE-bench's image contract: its image name, its activation path, /testbed, and an eval
    // script in its shape, run unchanged after the model patch is applied its way.
    let base_commit = first["base_commit"].as_str().unwrap();
    let test_patch = first["test_patch"].as_str().unwrap();
    let eval_sh = format!(
        "#!/bin/bash\nset -uxo pipefail\nsource /opt/miniconda3/bin/activate\nconda activate testbed\ncd /testbed\n\
         git config --global --add safe.directory /testbed\ngit status\ngit -c core.fileMode=false diff {base_commit}\n\
         echo \"env=$CONDA_DEFAULT_ENV python=$(which python)\"\n\
         git checkout {base_commit} tests/test_calc.py\ngit apply -v - <<'EOF_SWEGYM_TEST'\n{test_patch}\nEOF_SWEGYM_TEST\n\
         : '>>>>> Start Test Output'\npytest -rA tests/test_calc.py\n: '>>>>> End Test Output'\n\
         git checkout {base_commit} tests/test_calc.py\n"
    );
    let mut spec =
        RunSpec::new("sweb.eval.x86_64.acme__calc-1:latest", "git apply -v /tmp/patch.diff && /bin/bash /eval.sh");
    spec.workdir = Some("/testbed".into());
    spec.files = vec![("/tmp/patch.diff".into(), gold.clone().into_bytes()), ("/eval.sh".into(), eval_sh.into_bytes())];
    let engine = Engine::connect().await.unwrap();
    let run = engine.run(&spec, &Cancel::new()).await.unwrap();
    assert_eq!(run.exit_code, Some(0), "{}", run.output);
    assert!(run.output.contains("env=testbed python=/opt/venv/bin/python"), "{}", run.output);
    let tests = run.output.split(">>>>> Start Test Output").nth(1).unwrap_or_default();
    assert!(tests.contains("PASSED tests/test_calc.py::test_add"), "{}", run.output);
    assert!(tests.contains("PASSED tests/test_calc.py::test_zero"), "{}", run.output);

    // No container of this workspace is left, the hanging one included.
    let (key, value) = workspace_label(&Workspace::new(ctx.workspace()));
    let left = engine.remove_containers_with_label(&format!("{key}={value}")).await.unwrap();
    assert_eq!(left, 0, "containers left behind");
}
