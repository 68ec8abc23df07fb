//! The stored SWE-bench Lite membership. The criteria (`crate::lite`) are pure, but status, the lite
//! split and the card all need them for every instance: the stages that create instances (and
//! export, for workspaces older than this table) compute each membership once and store it here,
//! keyed by a hash of its inputs, so an edited instance or changed criteria are computed again.

use std::collections::HashMap;

use duckdb::params;
use serde::{Deserialize, Serialize};

use super::{db_error, now_ts, InstanceFilter, Store, StoreError};
use crate::lite::{LiteInput, LiteVerdict, CRITERIA_VERSION};

/// One failed criterion as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRejection {
    /// One of [`crate::lite::LiteRejection::CODES`].
    pub code: String,
    /// The criterion's message with its evidence.
    pub detail: String,
}

/// The input hash over `instances` aliased `i`. Each field is hashed on its own, so no separator
/// can make two different inputs collide.
fn input_hash_sql() -> String {
    format!("md5('lite-v{CRITERIA_VERSION}' || md5(i.problem_statement) || md5(i.patch) || md5(i.test_patch))")
}

impl Store {
    /// The selected instances whose Lite membership is not stored, or was stored for other inputs,
    /// by id.
    pub fn lite_pending(&self, filter: &InstanceFilter) -> Result<Vec<LiteInput>, StoreError> {
        let (condition, values) = filter.sql("i.repo", "i.instance_id");
        let sql = format!(
            "SELECT i.instance_id, i.input_hash, i.problem_statement, i.patch, i.test_patch
             FROM (SELECT *, {} AS input_hash FROM instances i WHERE {condition}) i
             LEFT JOIN lite l USING (instance_id)
             WHERE l.input_hash IS DISTINCT FROM i.input_hash
             ORDER BY i.instance_id",
            input_hash_sql()
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(&values), |r| {
                Ok(LiteInput {
                    instance_id: r.get(0)?,
                    input_hash: r.get(1)?,
                    problem_statement: r.get(2)?,
                    patch: r.get(3)?,
                    test_patch: r.get(4)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }

    /// Computes and stores the membership of every selected instance that lacks an up-to-date one;
    /// returns how many were computed. Called by the stages that write instances (mine, import)
    /// and by export, for workspaces older than the table.
    pub fn update_lite(&mut self, filter: &InstanceFilter) -> Result<usize, StoreError> {
        let verdicts: Vec<LiteVerdict> = self.lite_pending(filter)?.into_iter().map(LiteInput::judge).collect();
        self.write_lite(&verdicts)?;
        Ok(verdicts.len())
    }

    /// Stores memberships in one transaction, and drops those of instances that are gone.
    pub fn write_lite(&mut self, verdicts: &[LiteVerdict]) -> Result<(), StoreError> {
        let db = db_error(&self.path);
        let now = now_ts();
        let tx = self.conn.transaction().map_err(db)?;
        {
            let mut insert = tx.prepare("INSERT OR REPLACE INTO lite VALUES (?, ?, ?, ?)").map_err(db)?;
            for v in verdicts {
                let stored: Vec<StoredRejection> = v
                    .rejections
                    .iter()
                    .map(|r| StoredRejection { code: r.code().to_string(), detail: r.to_string() })
                    .collect();
                let json = serde_json::to_string(&stored).expect("a list of string pairs always serialises");
                insert.execute(params![v.instance_id, v.input_hash, json, now]).map_err(db)?;
            }
        }
        tx.execute_batch("DELETE FROM lite WHERE instance_id NOT IN (SELECT instance_id FROM instances)")
            .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// The stored Lite membership of every curated instance: its failed criteria by instance id
    /// (empty = in Lite). Curated instances without a stored membership are absent.
    pub fn curated_lite(&self) -> Result<HashMap<String, Vec<StoredRejection>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT l.instance_id, l.rejections FROM lite l JOIN validations v USING (instance_id)
                 WHERE v.status = 'curated'",
            )
            .map_err(self.db_err())?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(self.db_err())?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, json) = row.map_err(self.db_err())?;
            let rejections = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("lite.rejections of {id}: {e}"),
            })?;
            out.insert(id, rejections);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lite::LiteRejection;
    use crate::model::RawInstance;
    use crate::store::{Access, MinedBatch, OutcomeLists, ValidationRecord};
    use crate::workspace::Workspace;

    fn instance(n: u64, patch: &str) -> RawInstance {
        RawInstance {
            instance_id: format!("o__r-{n}"),
            repo: "o/r".into(),
            pull_number: n,
            issue_numbers: vec![3],
            base_commit: "abc".into(),
            patch: patch.into(),
            test_patch: "tp".into(),
            problem_statement: "ps".into(),
            hints_text: String::new(),
            created_at: "2024-01-01T00:00:00Z".into(),
        }
    }

    fn mined(s: &mut Store, instances: Vec<RawInstance>) {
        s.write_mined(&MinedBatch { instances, ..Default::default() }).unwrap();
    }

    fn verdict(input: &LiteInput, rejections: Vec<LiteRejection>) -> LiteVerdict {
        LiteVerdict { instance_id: input.instance_id.clone(), input_hash: input.input_hash.clone(), rejections }
    }

    fn curate(s: &mut Store, instance_id: &str) {
        let v = ValidationRecord {
            instance_id: instance_id.into(),
            image: "img".into(),
            settings_hash: "h".into(),
            status: "curated".into(),
            reason: None,
            detail: None,
            runs: 1,
            lists: OutcomeLists { fail_to_pass: vec!["t::a".into()], ..Default::default() },
            seconds: 1.0,
            overhead: None,
        };
        s.write_validation(&v, &[]).unwrap();
    }

    #[test]
    fn membership_is_pending_until_stored_and_again_when_its_inputs_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        mined(&mut s, vec![instance(1, "p1"), instance(2, "p2")]);
        let pending = s.lite_pending(&InstanceFilter::all()).unwrap();
        assert_eq!(pending.iter().map(|p| p.instance_id.as_str()).collect::<Vec<_>>(), ["o__r-1", "o__r-2"]);
        assert_eq!(pending[0].patch, "p1");
        assert_ne!(pending[0].input_hash, pending[1].input_hash);

        let short = LiteRejection::ProblemTooShort { words: 1 };
        s.write_lite(&[verdict(&pending[0], vec![]), verdict(&pending[1], vec![short.clone()])]).unwrap();
        assert!(s.lite_pending(&InstanceFilter::all()).unwrap().is_empty());

        // Mined again unchanged: still up to date. With another patch: pending again.
        mined(&mut s, vec![instance(1, "p1"), instance(2, "p2 edited")]);
        let pending = s.lite_pending(&InstanceFilter::all()).unwrap();
        assert_eq!(pending.iter().map(|p| p.instance_id.as_str()).collect::<Vec<_>>(), ["o__r-2"]);

        // Only curated instances are read back, with codes and messages.
        curate(&mut s, "o__r-1");
        curate(&mut s, "o__r-2");
        let lite = s.curated_lite().unwrap();
        assert_eq!(lite["o__r-1"], Vec::<StoredRejection>::new());
        assert_eq!(
            lite["o__r-2"],
            vec![StoredRejection { code: "problem_too_short".into(), detail: short.to_string() }]
        );
        let status = s.status().unwrap();
        assert_eq!((status[0].validated, status[0].curated, status[0].lite), (2, 2, 1));
    }

    #[test]
    fn pending_follows_the_filter_and_gone_instances_lose_their_membership() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        mined(&mut s, vec![instance(1, "p1")]);
        let other = InstanceFilter { repos: vec!["x/y".parse().unwrap()], instances: vec![] };
        assert!(s.lite_pending(&other).unwrap().is_empty());
        let pending =
            s.lite_pending(&InstanceFilter { instances: vec!["o__r-1".into()], ..Default::default() }).unwrap();
        s.write_lite(&[verdict(&pending[0], vec![])]).unwrap();
        s.conn().execute_batch("DELETE FROM instances").unwrap();
        s.write_lite(&[]).unwrap();
        let n: i64 = s.conn().query_row("SELECT count(*) FROM lite", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }
}
