//! Typed reads and writes of the `validate` stage.

use duckdb::params;
use serde::Serialize;

use super::mine::{raw_instance, INSTANCE_COLUMNS, INSTANCE_COLUMN_COUNT};
use super::{db_error, now_ts, parse_int_list, InstanceFilter, Store, StoreError};
use crate::model::{ExportRow, ExtendedFields, RawInstance};

/// The outcome lists of one validated instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeLists {
    pub fail_to_pass: Vec<String>,
    pub pass_to_pass: Vec<String>,
    pub fail_to_fail: Vec<String>,
    pub pass_to_fail: Vec<String>,
    pub flaky: Vec<String>,
}

/// One instance's validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationRecord {
    pub instance_id: String,
    pub image: String,
    pub settings_hash: String,
    /// `curated` or `rejected`.
    pub status: String,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub runs: u32,
    pub lists: OutcomeLists,
    pub seconds: f64,
    pub overhead: Option<f64>,
}

/// One container run of one phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub phase: String,
    pub run: u32,
    pub outcome: String,
    pub exit_code: Option<i64>,
    pub source: String,
    pub seconds: f64,
    pub test_seconds: Option<f64>,
    pub log_path: Option<String>,
    /// (test, status) as reported.
    pub results: Vec<(String, String)>,
}

/// An instance `validate` may have to (re)validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationCandidate {
    pub instance: RawInstance,
    /// Its most recently built instance image; `None` when it has none (run `build`).
    pub image: Option<String>,
    /// The environment spec recorded on that image, as JSON (see `ImageRecord::env_spec`).
    pub env_spec: Option<String>,
    /// The settings hash of its stored validation, if it has one.
    pub settings_hash: Option<String>,
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Column `index` (named `column`) of `instance_id`'s row: a JSON list of test ids. A value that
/// does not parse is an error naming the instance, never an empty list (which would silently drop
/// tests from an export).
pub(super) fn parse_list(
    r: &duckdb::Row<'_>,
    instance_id: &str,
    index: usize,
    column: &str,
) -> duckdb::Result<Vec<String>> {
    let text: String = r.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        let why = format!("instance {instance_id}: {column} holds {text:?}, not a JSON list of test ids: {e}");
        duckdb::Error::FromSqlConversionFailure(index, duckdb::types::Type::Text, why.into())
    })
}

impl Store {
    /// The selected instances with a test patch, each with its most recently built instance image
    /// (and the environment spec recorded on it) and the settings of its stored validation.
    pub fn validation_candidates(&self, filter: &InstanceFilter) -> Result<Vec<ValidationCandidate>, StoreError> {
        let (cond, args) = filter.sql("i.repo", "i.instance_id");
        let sql = format!(
            "WITH latest AS (
                 SELECT instance_id, arg_max(tag, built_at) AS tag FROM images
                 WHERE tier = 'instance' AND status = 'built' AND instance_id IS NOT NULL GROUP BY instance_id)
             SELECT {INSTANCE_COLUMNS}, l.tag, img.env_spec, val.settings_hash
             FROM instances i
             LEFT JOIN latest l ON l.instance_id = i.instance_id
             LEFT JOIN images img ON img.tag = l.tag
             LEFT JOIN validations val ON val.instance_id = i.instance_id
             WHERE i.test_patch <> '' AND {cond}
             ORDER BY i.repo, i.pull_number, i.instance_id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(&args), |r| {
                let c = INSTANCE_COLUMN_COUNT;
                Ok(ValidationCandidate {
                    instance: raw_instance(r)?,
                    image: r.get(c)?,
                    env_spec: r.get(c + 1)?,
                    settings_hash: r.get(c + 2)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Replaces one instance's validation, its runs and its per-test results in one transaction:
    /// a run killed midway leaves either the old validation or the new one, never half of it.
    pub fn write_validation(&mut self, v: &ValidationRecord, runs: &[RunRecord]) -> Result<(), StoreError> {
        let db = db_error(&self.path);
        let now = now_ts();
        let tx = self.conn.transaction().map_err(db)?;
        for table in ["validations", "validation_runs", "test_results"] {
            tx.execute(&format!("DELETE FROM {table} WHERE instance_id = ?"), params![v.instance_id]).map_err(db)?;
        }
        tx.execute(
            "INSERT INTO validations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                v.instance_id,
                v.image,
                v.settings_hash,
                v.status,
                v.reason,
                v.detail,
                v.runs as i64,
                json_list(&v.lists.fail_to_pass),
                json_list(&v.lists.pass_to_pass),
                json_list(&v.lists.fail_to_fail),
                json_list(&v.lists.pass_to_fail),
                json_list(&v.lists.flaky),
                v.seconds,
                v.overhead,
                now
            ],
        )
        .map_err(db)?;
        {
            let mut ins =
                tx.prepare("INSERT INTO validation_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").map_err(db)?;
            for r in runs {
                ins.execute(params![
                    v.instance_id,
                    r.phase,
                    r.run as i64,
                    r.outcome,
                    r.exit_code,
                    r.results.len() as i64,
                    r.source,
                    r.seconds,
                    r.test_seconds,
                    r.log_path
                ])
                .map_err(db)?;
            }
            // Row-by-row inserts cost DuckDB milliseconds each; a suite has thousands of tests.
            let mut app = tx.appender("test_results").map_err(db)?;
            for r in runs {
                for (test, status) in &r.results {
                    app.append_row(params![v.instance_id, r.phase, r.run as i64, test, status]).map_err(db)?;
                }
            }
            app.flush().map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Every stored validation, ordered by instance id.
    pub fn validations(&self) -> Result<Vec<ValidationRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT instance_id, image, settings_hash, status, reason, detail, runs, fail_to_pass, pass_to_pass,
                        fail_to_fail, pass_to_fail, flaky, seconds, overhead
                 FROM validations ORDER BY instance_id",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| {
                let id: String = r.get(0)?;
                Ok(ValidationRecord {
                    lists: OutcomeLists {
                        fail_to_pass: parse_list(r, &id, 7, "fail_to_pass")?,
                        pass_to_pass: parse_list(r, &id, 8, "pass_to_pass")?,
                        fail_to_fail: parse_list(r, &id, 9, "fail_to_fail")?,
                        pass_to_fail: parse_list(r, &id, 10, "pass_to_fail")?,
                        flaky: parse_list(r, &id, 11, "flaky")?,
                    },
                    instance_id: id,
                    image: r.get(1)?,
                    settings_hash: r.get(2)?,
                    status: r.get(3)?,
                    reason: r.get(4)?,
                    detail: r.get(5)?,
                    runs: r.get::<_, i64>(6)?.max(0) as u32,
                    seconds: r.get(12)?,
                    overhead: r.get(13)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Per-phase, per-run statuses of one instance's tests: (phase, run, test, status).
    pub fn test_results(&self, instance_id: &str) -> Result<Vec<(String, u32, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT phase, run, test, status FROM test_results WHERE instance_id = ? ORDER BY phase, run, test",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![instance_id], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u32, r.get(2)?, r.get(3)?))
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Validation failures by reason, per repository: (repo, reason, count).
    pub fn rejection_reasons(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT i.repo, coalesce(v.reason, 'unknown'), count(*)
                 FROM validations v JOIN instances i USING (instance_id)
                 WHERE v.status <> 'curated' GROUP BY ALL ORDER BY 1, 3 DESC, 2",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64)))
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// The curated instances as export rows (extended fields always filled), ordered by
    /// repository, pull number and id.
    pub fn curated_rows(&self) -> Result<Vec<ExportRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT i.instance_id, i.repo, i.base_commit, i.patch, i.test_patch, i.problem_statement,
                        i.hints_text, i.created_at, p.version, v.fail_to_pass, v.pass_to_pass,
                        i.pull_number, CAST(i.issue_numbers AS VARCHAR), ver.env_commit, v.image,
                        coalesce(img.python_used, ver.python), ver.python, coalesce(img.recipe, ver.recipe),
                        v.flaky, v.fail_to_fail, v.pass_to_fail
                 FROM validations v
                 JOIN instances i USING (instance_id)
                 JOIN pins p USING (instance_id)
                 LEFT JOIN versions ver ON ver.repo = i.repo AND ver.version = p.version
                 LEFT JOIN images img ON img.tag = v.image
                 WHERE v.status = 'curated'
                 ORDER BY i.repo, i.pull_number, i.instance_id",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| {
                let id: String = r.get(0)?;
                let list = |i: usize, column: &str| parse_list(r, &id, i, column);
                Ok(ExportRow {
                    repo: r.get(1)?,
                    base_commit: r.get(2)?,
                    patch: r.get(3)?,
                    test_patch: r.get(4)?,
                    problem_statement: r.get(5)?,
                    hints_text: r.get(6)?,
                    created_at: r.get(7)?,
                    version: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                    fail_to_pass: list(9, "fail_to_pass")?,
                    pass_to_pass: list(10, "pass_to_pass")?,
                    pull_number: Some(r.get::<_, i64>(11)?.max(0) as u64),
                    issue_numbers: Some(parse_int_list(&r.get::<_, String>(12)?)),
                    extended: Some(ExtendedFields {
                        environment_setup_commit: r.get(13)?,
                        image: r.get(14)?,
                        python: r.get(15)?,
                        python_wanted: r.get(16)?,
                        recipe: r.get(17)?,
                        flaky: list(18, "flaky")?,
                        fail_to_fail: list(19, "fail_to_fail")?,
                        pass_to_fail: list(20, "pass_to_fail")?,
                    }),
                    instance_id: id,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Access;
    use crate::workspace::Workspace;

    #[test]
    fn unparsable_stored_list_is_an_error_naming_the_instance() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        store
            .conn()
            .execute_batch(
                "INSERT INTO validations VALUES ('acme__widget-7', 'img', 'h', 'curated', NULL, NULL, 3,
                 '[\"tests/test_a.py::test_x\"', '[]', '[]', '[]', '[]', 1.0, NULL, '2024-01-01T00:00:00Z')",
            )
            .unwrap();
        let err = store.validations().expect_err("a truncated list must not read as empty").to_string();
        assert!(err.contains("acme__widget-7") && err.contains("fail_to_pass"), "{err}");
    }

    use crate::store::images::tests::pinned_store;
    use crate::store::{BuildStatus, ImageRecord, ImageTier};

    #[test]
    fn candidates_carry_the_latest_good_image_its_spec_and_the_stored_settings() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = pinned_store(dir.path());
        let image = |tag: &str, status: BuildStatus| ImageRecord {
            instance_id: Some("acme__calc-1".into()),
            env_spec: Some(format!("{{\"for\":\"{tag}\"}}")),
            status,
            ..ImageRecord::new(tag, ImageTier::Instance)
        };
        store.write_image(&image("swegym/eval.acme__calc-1:old", BuildStatus::Built)).unwrap();
        store.write_image(&image("swegym/eval.acme__calc-1:bad", BuildStatus::Failed)).unwrap();
        let record = ValidationRecord {
            instance_id: "acme__calc-1".into(),
            image: "swegym/eval.acme__calc-1:old".into(),
            settings_hash: "s1".into(),
            status: "rejected".into(),
            reason: None,
            detail: None,
            runs: 1,
            lists: OutcomeLists::default(),
            seconds: 1.0,
            overhead: None,
        };
        store.write_validation(&record, &[]).unwrap();

        let filter = InstanceFilter { repos: vec!["acme/calc".parse().unwrap()], instances: vec![] };
        let c = store.validation_candidates(&filter).unwrap();
        let ids: Vec<&str> = c.iter().map(|c| c.instance.instance_id.as_str()).collect();
        assert_eq!(ids, ["acme__calc-1", "acme__calc-2", "acme__calc-3"]);
        assert_eq!(c[0].image.as_deref(), Some("swegym/eval.acme__calc-1:old"), "a failed image is never validated");
        assert_eq!(c[0].env_spec.as_deref(), Some(r#"{"for":"swegym/eval.acme__calc-1:old"}"#));
        assert_eq!(c[0].settings_hash.as_deref(), Some("s1"));
        assert_eq!((&c[1].image, &c[1].env_spec, &c[1].settings_hash), (&None, &None, &None));
    }
}
