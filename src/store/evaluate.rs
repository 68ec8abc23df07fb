//! Reads and writes for `evaluate` and `serve`: what an instance is scored with (its image, the
//! environment recorded on it, its FAIL_TO_PASS and PASS_TO_PASS lists) and the stored scores.

use std::collections::BTreeMap;

use duckdb::params;

use super::mine::{raw_instance, INSTANCE_COLUMNS, INSTANCE_COLUMN_COUNT};
use super::validate::parse_list;
use super::{now_ts, Store, StoreError};
use crate::model::RawInstance;

/// Everything needed to score a patch on one instance.
#[derive(Debug, Clone)]
pub struct ScoringTarget {
    pub instance: RawInstance,
    /// Its most recently built instance image and the environment recorded on it.
    pub image: Option<String>,
    pub env_spec: Option<String>,
    pub fail_to_pass: Vec<String>,
    pub pass_to_pass: Vec<String>,
    /// `validated` (our curated lists) or `published` (kept by `import`); `None`: neither.
    pub tests_source: Option<String>,
}

/// One scored prediction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvaluationRecord {
    pub run_id: String,
    pub instance_id: String,
    pub patch_hash: String,
    pub model: String,
    pub status: String,
    pub applied_with: Option<String>,
    pub tampered: Vec<String>,
    pub detail: Option<String>,
    pub image: Option<String>,
    pub tests_source: Option<String>,
    pub fail_to_pass_passed: Vec<String>,
    pub fail_to_pass_failed: Vec<String>,
    pub pass_to_pass_passed: Vec<String>,
    pub pass_to_pass_failed: Vec<String>,
    /// Every test that reported, and its status (`PASSED`, `FAILED` …).
    pub tests: BTreeMap<String, String>,
    pub seconds: f64,
    pub test_seconds: Option<f64>,
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

const EVALUATION_COLUMNS: &str =
    "run_id, instance_id, patch_hash, model, status, applied_with, tampered, detail, image,
     tests_source, fail_to_pass_passed, fail_to_pass_failed, pass_to_pass_passed, pass_to_pass_failed, tests, seconds,
     test_seconds";

impl Store {
    /// The instances named in `ids` that this workspace has, keyed by id, each with what it is
    /// scored with: our validated lists when it is curated, else the published ones.
    pub fn scoring_targets(&self, ids: &[String]) -> Result<BTreeMap<String, ScoringTarget>, StoreError> {
        let mut out = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "WITH latest AS (
                 SELECT instance_id, arg_max(tag, built_at) AS tag FROM images
                 WHERE tier = 'instance' AND status = 'built' AND instance_id IS NOT NULL GROUP BY instance_id)
             SELECT {INSTANCE_COLUMNS}, l.tag, img.env_spec, val.status, val.fail_to_pass, val.pass_to_pass
             FROM instances i
             LEFT JOIN latest l ON l.instance_id = i.instance_id
             LEFT JOIN images img ON img.tag = l.tag
             LEFT JOIN validations val ON val.instance_id = i.instance_id
             WHERE i.instance_id IN ({marks})"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(ids), |r| {
                let c = INSTANCE_COLUMN_COUNT;
                let instance = raw_instance(r)?;
                let curated = r.get::<_, Option<String>>(c + 2)?.as_deref() == Some("curated");
                let (f2p, p2p) = if curated {
                    let id = instance.instance_id.clone();
                    (parse_list(r, &id, c + 3, "fail_to_pass")?, parse_list(r, &id, c + 4, "pass_to_pass")?)
                } else {
                    (vec![], vec![])
                };
                Ok(ScoringTarget {
                    image: r.get(c)?,
                    env_spec: r.get(c + 1)?,
                    tests_source: curated.then(|| "validated".to_string()),
                    fail_to_pass: f2p,
                    pass_to_pass: p2p,
                    instance,
                })
            })
            .map_err(self.db_err())?;
        for row in rows {
            let t = row.map_err(self.db_err())?;
            out.insert(t.instance.instance_id.clone(), t);
        }
        for t in out.values_mut().filter(|t| t.tests_source.is_none()) {
            if let Some(p) = self.published(&t.instance.instance_id)?.filter(|p| !p.fail_to_pass.is_empty()) {
                t.fail_to_pass = p.fail_to_pass;
                t.pass_to_pass = p.pass_to_pass;
                t.tests_source = Some("published".into());
            }
        }
        Ok(out)
    }

    /// Every instance that has a built instance image, by id.
    pub fn scorable_instance_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT instance_id FROM images
                 WHERE tier = 'instance' AND status = 'built' AND instance_id IS NOT NULL ORDER BY instance_id",
            )
            .map_err(self.db_err())?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// The stored score of (run, instance, patch), if any.
    pub fn evaluation(
        &self,
        run_id: &str,
        instance_id: &str,
        patch_hash: &str,
    ) -> Result<Option<EvaluationRecord>, StoreError> {
        let sql = format!(
            "SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE run_id = ? AND instance_id = ? AND patch_hash = ?"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let mut rows =
            stmt.query_map(params![run_id, instance_id, patch_hash], evaluation_row).map_err(self.db_err())?;
        rows.next().transpose().map_err(self.db_err())
    }

    /// The latest stored score of `patch_hash` on `instance_id` in any run (the reward cache).
    pub fn any_evaluation(&self, instance_id: &str, patch_hash: &str) -> Result<Option<EvaluationRecord>, StoreError> {
        let sql = format!(
            "SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE instance_id = ? AND patch_hash = ?
             AND status <> 'error' ORDER BY evaluated_at DESC LIMIT 1"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let mut rows = stmt.query_map(params![instance_id, patch_hash], evaluation_row).map_err(self.db_err())?;
        rows.next().transpose().map_err(self.db_err())
    }

    /// Every stored score of `run_id`, by model and instance.
    pub fn evaluations(&self, run_id: &str) -> Result<Vec<EvaluationRecord>, StoreError> {
        let sql = format!("SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE run_id = ? ORDER BY model, instance_id");
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt.query_map(params![run_id], evaluation_row).map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Stores one score (replacing an earlier one of the same run, instance and patch).
    pub fn write_evaluation(&mut self, e: &EvaluationRecord) -> Result<(), StoreError> {
        self.conn
            .execute(
                &format!("INSERT OR REPLACE INTO evaluations ({EVALUATION_COLUMNS}, evaluated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                params![
                    e.run_id,
                    e.instance_id,
                    e.patch_hash,
                    e.model,
                    e.status,
                    e.applied_with,
                    json(&e.tampered),
                    e.detail,
                    e.image,
                    e.tests_source,
                    json(&e.fail_to_pass_passed),
                    json(&e.fail_to_pass_failed),
                    json(&e.pass_to_pass_passed),
                    json(&e.pass_to_pass_failed),
                    json(&e.tests),
                    e.seconds,
                    e.test_seconds,
                    now_ts(),
                ],
            )
            .map_err(self.db_err())?;
        Ok(())
    }
}

fn evaluation_row(r: &duckdb::Row<'_>) -> duckdb::Result<EvaluationRecord> {
    let id: String = r.get(1)?;
    let tests_text: String = r.get(14)?;
    let tests = serde_json::from_str(&tests_text).map_err(|e| {
        duckdb::Error::FromSqlConversionFailure(14, duckdb::types::Type::Text, format!("{id}: tests: {e}").into())
    })?;
    Ok(EvaluationRecord {
        run_id: r.get(0)?,
        patch_hash: r.get(2)?,
        model: r.get(3)?,
        status: r.get(4)?,
        applied_with: r.get(5)?,
        tampered: parse_list(r, &id, 6, "tampered")?,
        detail: r.get(7)?,
        image: r.get(8)?,
        tests_source: r.get(9)?,
        fail_to_pass_passed: parse_list(r, &id, 10, "fail_to_pass_passed")?,
        fail_to_pass_failed: parse_list(r, &id, 11, "fail_to_pass_failed")?,
        pass_to_pass_passed: parse_list(r, &id, 12, "pass_to_pass_passed")?,
        pass_to_pass_failed: parse_list(r, &id, 13, "pass_to_pass_failed")?,
        tests,
        seconds: r.get(15)?,
        test_seconds: r.get(16)?,
        instance_id: id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Access;
    use crate::workspace::Workspace;

    fn record(run: &str, status: &str) -> EvaluationRecord {
        EvaluationRecord {
            run_id: run.into(),
            instance_id: "acme__calc-1".into(),
            patch_hash: "abc".into(),
            model: "m".into(),
            status: status.into(),
            applied_with: Some("git".into()),
            tampered: vec!["conftest.py".into()],
            detail: None,
            image: Some("swegym/eval.acme__calc-1:x".into()),
            tests_source: Some("validated".into()),
            fail_to_pass_passed: vec!["t::a".into()],
            fail_to_pass_failed: vec![],
            pass_to_pass_passed: vec!["t::b".into()],
            pass_to_pass_failed: vec![],
            tests: BTreeMap::from([("t::a".into(), "PASSED".into()), ("t::b".into(), "PASSED".into())]),
            seconds: 1.5,
            test_seconds: Some(0.5),
        }
    }

    #[test]
    fn evaluations_round_trip_and_the_cache_skips_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        store.write_evaluation(&record("r1", "error")).unwrap();
        assert_eq!(store.any_evaluation("acme__calc-1", "abc").unwrap(), None, "an error is not a reward");
        let good = record("r2", "resolved");
        store.write_evaluation(&good).unwrap();
        assert_eq!(store.evaluation("r2", "acme__calc-1", "abc").unwrap(), Some(good.clone()));
        assert_eq!(store.any_evaluation("acme__calc-1", "abc").unwrap(), Some(good.clone()));
        store.write_evaluation(&good).unwrap();
        assert_eq!(store.evaluations("r2").unwrap().len(), 1, "same run, instance and patch: one row");
        assert!(store.scoring_targets(&["nope".into()]).unwrap().is_empty());
    }
}
