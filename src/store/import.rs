//! Typed writes and reads of the `import` stage.

use duckdb::params;

use super::mine::{insert_instance, INSERT_INSTANCE};
use super::{db_error, now_ts, Store, StoreError};
use crate::model::RawInstance;

/// What a published dataset says of an instance: the values our stages will be compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedValues {
    pub instance_id: String,
    pub version: Option<String>,
    pub fail_to_pass: Vec<String>,
    pub pass_to_pass: Vec<String>,
    pub environment_setup_commit: Option<String>,
    pub source: String,
}

impl Store {
    /// Stores imported instances and their published values in one transaction. An instance that
    /// was mined keeps its mined row (only its published values are recorded). Returns how many
    /// were kept that way.
    pub fn write_imported(&mut self, rows: &[(RawInstance, PublishedValues)]) -> Result<u64, StoreError> {
        let db = db_error(&self.path);
        let now = now_ts();
        let tx = self.conn.transaction().map_err(db)?;
        let mut kept = 0;
        {
            // Mined instances keep their rows; read their ids once rather than a query per row.
            let mined: std::collections::HashSet<String> = tx
                .prepare("SELECT instance_id FROM instances WHERE source = 'mined'")
                .map_err(db)?
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let mut inst = tx.prepare(INSERT_INSTANCE).map_err(db)?;
            let mut published = tx.prepare("INSERT OR REPLACE INTO published VALUES (?, ?, ?, ?, ?)").map_err(db)?;
            let mut clear = tx.prepare("DELETE FROM published_tests WHERE instance_id = ?").map_err(db)?;
            let mut test = tx.prepare("INSERT INTO published_tests VALUES (?, ?, ?, ?)").map_err(db)?;
            for (i, p) in rows {
                if mined.contains(&i.instance_id) {
                    kept += 1;
                } else {
                    insert_instance(&mut inst, i, "imported", &now).map_err(db)?;
                }
                published
                    .execute(params![p.instance_id, p.version, p.environment_setup_commit, p.source, now])
                    .map_err(db)?;
                clear.execute(params![p.instance_id]).map_err(db)?;
                for (list, tests) in [("FAIL_TO_PASS", &p.fail_to_pass), ("PASS_TO_PASS", &p.pass_to_pass)] {
                    for (pos, t) in tests.iter().enumerate() {
                        test.execute(params![p.instance_id, list, pos as i64, t]).map_err(db)?;
                    }
                }
            }
        }
        tx.commit().map_err(db)?;
        Ok(kept)
    }

    /// The published values of one instance, if it was imported.
    pub fn published(&self, instance_id: &str) -> Result<Option<PublishedValues>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT version, environment_setup_commit, source FROM published WHERE instance_id = ?")
            .map_err(self.db_err())?;
        let mut rows = stmt.query(params![instance_id]).map_err(self.db_err())?;
        let Some(r) = rows.next().map_err(self.db_err())? else { return Ok(None) };
        let (version, env, source): (Option<String>, Option<String>, String) =
            (r.get(0).map_err(self.db_err())?, r.get(1).map_err(self.db_err())?, r.get(2).map_err(self.db_err())?);
        let mut tests = self
            .conn
            .prepare("SELECT list, test FROM published_tests WHERE instance_id = ? ORDER BY list, position")
            .map_err(self.db_err())?;
        let mut f2p = Vec::new();
        let mut p2p = Vec::new();
        let rows = tests
            .query_map(params![instance_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.db_err())?;
        for row in rows {
            let (list, t) = row.map_err(self.db_err())?;
            if list == "FAIL_TO_PASS" {
                f2p.push(t);
            } else {
                p2p.push(t);
            }
        }
        Ok(Some(PublishedValues {
            instance_id: instance_id.to_string(),
            version,
            fail_to_pass: f2p,
            pass_to_pass: p2p,
            environment_setup_commit: env,
            source,
        }))
    }
}
