//! SWE-bench-format reports, so that tooling written for SWE-bench's harness reads ours:
//! - `<dir>/<model>.<run id>.json`: the run's summary per model (`submitted_instances`,
//!   `completed_instances`, `resolved_instances` … and their id lists, `schema_version` 2);
//! - `<dir>/<model>/<instance id>/report.json`: `{instance_id: {patch_is_None, patch_exists,
//!   patch_successfully_applied, resolved, tests_status: {FAIL_TO_PASS: {success, failure},
//!   PASS_TO_PASS: …, FAIL_TO_FAIL: …, PASS_TO_FAIL: …}}}`.
//!
//! `<model>` is the model name with `/` replaced by `__`, as SWE-bench does. As in SWE-bench, a
//! patch that does not apply has no per-instance report and counts as an error; an empty patch
//! counts as completed, unresolved and empty. Our own fields (`tampered_ids`,
//! `patch_does_not_apply_ids`) are extra keys that such readers ignore.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::store::EvaluationRecord;

/// `model` as a file name component.
pub fn model_dir(model: &str) -> String {
    model.replace('/', "__")
}

/// The per-instance `report.json` of one scored prediction; `None` where SWE-bench writes none
/// (the patch did not apply, or the evaluation failed).
pub fn instance_report(e: &EvaluationRecord) -> Option<Value> {
    if matches!(e.status.as_str(), "patch_does_not_apply" | "error") {
        return None;
    }
    let empty = e.status == "empty_patch";
    let pair = |success: &[String], failure: &[String]| json!({ "success": success, "failure": failure });
    Some(json!({
        e.instance_id.clone(): {
            "patch_is_None": false,
            "patch_exists": !empty,
            "patch_successfully_applied": !empty,
            "resolved": e.status == "resolved",
            "tests_status": {
                "FAIL_TO_PASS": pair(&e.fail_to_pass_passed, &e.fail_to_pass_failed),
                "PASS_TO_PASS": pair(&e.pass_to_pass_passed, &e.pass_to_pass_failed),
                "FAIL_TO_FAIL": pair(&[], &[]),
                "PASS_TO_FAIL": pair(&[], &[]),
            },
            "tampered": e.tampered,
            "applied_with": e.applied_with,
        }
    }))
}

/// The summary of one model's predictions: `submitted` are the ids it was asked about (scored
/// or not), `stored` its scores in this run.
pub fn summary(submitted: &BTreeSet<String>, stored: &[&EvaluationRecord]) -> Value {
    let ids = |f: &dyn Fn(&EvaluationRecord) -> bool| -> Vec<String> {
        let set: BTreeSet<String> = stored
            .iter()
            .filter(|e| submitted.contains(&e.instance_id) && f(e))
            .map(|e| e.instance_id.clone())
            .collect();
        set.into_iter().collect()
    };
    let resolved = ids(&|e| e.status == "resolved");
    let unresolved = ids(&|e| matches!(e.status.as_str(), "unresolved" | "empty_patch"));
    let empty = ids(&|e| e.status == "empty_patch");
    let error = ids(&|e| matches!(e.status.as_str(), "error" | "patch_does_not_apply"));
    let completed = ids(&|e| !matches!(e.status.as_str(), "error" | "patch_does_not_apply"));
    let scored: BTreeSet<&String> = stored.iter().map(|e| &e.instance_id).collect();
    let incomplete: Vec<&String> = submitted.iter().filter(|id| !scored.contains(id)).collect();
    json!({
        "total_instances": submitted.len(),
        "submitted_instances": submitted.len(),
        "completed_instances": completed.len(),
        "resolved_instances": resolved.len(),
        "unresolved_instances": unresolved.len(),
        "empty_patch_instances": empty.len(),
        "error_instances": error.len(),
        "completed_ids": completed,
        "incomplete_ids": incomplete,
        "empty_patch_ids": empty,
        "submitted_ids": submitted,
        "resolved_ids": resolved,
        "unresolved_ids": unresolved,
        "error_ids": error,
        "patch_does_not_apply_ids": ids(&|e| e.status == "patch_does_not_apply"),
        "tampered_ids": ids(&|e| !e.tampered.is_empty()),
        "schema_version": 2,
    })
}

/// Writes every report of `run_id` under `dir`; returns the paths written.
pub fn write(
    dir: &Path,
    run_id: &str,
    submitted: &BTreeMap<String, Vec<String>>,
    stored: &[EvaluationRecord],
) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    let mut written = Vec::new();
    let put = |path: PathBuf, value: &Value, written: &mut Vec<PathBuf>| -> Result<(), (PathBuf, std::io::Error)> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| (parent.to_path_buf(), e))?;
        }
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        std::fs::write(&path, text + "\n").map_err(|e| (path.clone(), e))?;
        written.push(path);
        Ok(())
    };
    for (model, ids) in submitted {
        let ids: BTreeSet<String> = ids.iter().cloned().collect();
        let mine: Vec<&EvaluationRecord> = stored.iter().filter(|e| &e.model == model).collect();
        for e in mine.iter().filter(|e| ids.contains(&e.instance_id)) {
            if let Some(r) = instance_report(e) {
                put(dir.join(model_dir(model)).join(&e.instance_id).join("report.json"), &r, &mut written)?;
            }
        }
        put(dir.join(format!("{}.{run_id}.json", model_dir(model))), &summary(&ids, &mine), &mut written)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(id: &str, status: &str) -> EvaluationRecord {
        EvaluationRecord {
            run_id: "r1".into(),
            instance_id: id.into(),
            patch_hash: "h".into(),
            model: "org/model".into(),
            status: status.into(),
            applied_with: (status != "empty_patch").then(|| "git".into()),
            tampered: if id.ends_with('3') { vec!["conftest.py".into()] } else { vec![] },
            detail: None,
            image: None,
            tests_source: Some("validated".into()),
            fail_to_pass_passed: if status == "resolved" { vec!["t::f".into()] } else { vec![] },
            fail_to_pass_failed: if status == "resolved" { vec![] } else { vec!["t::f".into()] },
            pass_to_pass_passed: vec!["t::p".into()],
            pass_to_pass_failed: vec![],
            tests: BTreeMap::new(),
            seconds: 1.0,
            test_seconds: Some(0.5),
        }
    }

    #[test]
    fn summary_and_instance_reports_have_swe_benchs_fields() {
        let dir = tempfile::tempdir().unwrap();
        let stored = vec![
            scored("a-1", "resolved"),
            scored("a-2", "empty_patch"),
            scored("a-3", "unresolved"),
            scored("a-4", "patch_does_not_apply"),
            scored("a-5", "error"),
        ];
        let submitted = BTreeMap::from([(
            "org/model".to_string(),
            ["a-1", "a-2", "a-3", "a-4", "a-5", "a-6"].iter().map(ToString::to_string).collect(),
        )]);
        let paths = write(dir.path(), "r1", &submitted, &stored).unwrap();
        assert_eq!(paths.len(), 4, "three per-instance reports and one summary: {paths:?}");
        let s: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("org__model.r1.json")).unwrap()).unwrap();
        assert_eq!(s["submitted_instances"], 6);
        assert_eq!(s["completed_instances"], 3);
        assert_eq!(s["resolved_instances"], 1);
        assert_eq!(s["unresolved_instances"], 2);
        assert_eq!(s["empty_patch_instances"], 1);
        assert_eq!(s["error_instances"], 2);
        assert_eq!(s["resolved_ids"], json!(["a-1"]));
        assert_eq!(s["unresolved_ids"], json!(["a-2", "a-3"]));
        assert_eq!(s["error_ids"], json!(["a-4", "a-5"]));
        assert_eq!(s["incomplete_ids"], json!(["a-6"]));
        assert_eq!(s["completed_ids"], json!(["a-1", "a-2", "a-3"]));
        assert_eq!(s["tampered_ids"], json!(["a-3"]));
        assert_eq!(s["schema_version"], 2);
        let r: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("org__model/a-1/report.json")).unwrap())
                .unwrap();
        let a = &r["a-1"];
        assert_eq!((a["patch_is_None"].clone(), a["patch_exists"].clone()), (json!(false), json!(true)));
        assert_eq!(a["patch_successfully_applied"], true);
        assert_eq!(a["resolved"], true);
        assert_eq!(a["tests_status"]["FAIL_TO_PASS"], json!({"success": ["t::f"], "failure": []}));
        assert_eq!(a["tests_status"]["PASS_TO_PASS"], json!({"success": ["t::p"], "failure": []}));
        assert_eq!(a["tests_status"]["FAIL_TO_FAIL"], json!({"success": [], "failure": []}));
        assert!(!dir.path().join("org__model/a-4/report.json").exists(), "no report where the patch did not apply");
    }
}
