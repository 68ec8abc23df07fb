//! Typed reads and writes of the `pin` stage.

use duckdb::params;
use serde::Serialize;

use super::{db_error, now_ts, InstanceFilter, Store, StoreError};

/// An instance `pin` may have to (re)pin, with what is already recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinCandidate {
    pub instance_id: String,
    pub repo: String,
    pub base_commit: String,
    /// Rule hash of the existing pin, if any.
    pub pinned_rule: Option<String>,
    /// Whether the existing pin found a version.
    pub has_version: bool,
}

/// One instance's pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinRecord {
    pub instance_id: String,
    pub repo: String,
    pub version: Option<String>,
    pub raw_version: Option<String>,
    pub method: Option<String>,
    pub reason: Option<String>,
    pub rule_hash: String,
}

/// What an environment is built from: one per (repo, version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRecord {
    pub repo: String,
    pub version: String,
    pub env_commit: String,
    pub python: String,
    pub python_source: String,
    pub cutoff: String,
    pub instances: u64,
    pub recipe: String,
}

impl Store {
    /// The selected instances with a test patch (the executable pipeline's input), with their
    /// current pin state.
    pub fn pin_candidates(&self, filter: &InstanceFilter) -> Result<Vec<PinCandidate>, StoreError> {
        let (selected, params) = filter.sql("i.repo", "i.instance_id");
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT i.instance_id, i.repo, i.base_commit, p.rule_hash, p.version IS NOT NULL
                 FROM instances i LEFT JOIN pins p USING (instance_id)
                 WHERE i.test_patch <> '' AND {selected} ORDER BY i.repo, i.instance_id"
            ))
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(params), |r| {
                Ok(PinCandidate {
                    instance_id: r.get(0)?,
                    repo: r.get(1)?,
                    base_commit: r.get(2)?,
                    pinned_rule: r.get(3)?,
                    has_version: r.get::<_, Option<bool>>(4)?.unwrap_or(false),
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }

    /// Records pins in one transaction: appended to a staging table, then one upsert (row-by-row
    /// `INSERT OR REPLACE` costs DuckDB milliseconds per row).
    pub fn write_pins(&mut self, pins: &[PinRecord]) -> Result<(), StoreError> {
        if pins.is_empty() {
            return Ok(());
        }
        let db = db_error(&self.path);
        let now = now_ts();
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS stage_pins (
                instance_id VARCHAR, repo VARCHAR, version VARCHAR, raw_version VARCHAR, method VARCHAR,
                reason VARCHAR, rule_hash VARCHAR, pinned_at VARCHAR);
             DELETE FROM stage_pins;",
        )
        .map_err(db)?;
        {
            let mut app = tx.appender_to_catalog_and_db("stage_pins", "temp", "main").map_err(db)?;
            for p in pins {
                app.append_row(params![
                    p.instance_id,
                    p.repo,
                    p.version,
                    p.raw_version,
                    p.method,
                    p.reason,
                    p.rule_hash,
                    now
                ])
                .map_err(db)?;
            }
            app.flush().map_err(db)?;
        }
        tx.execute_batch("INSERT OR REPLACE INTO pins SELECT * FROM stage_pins; DELETE FROM stage_pins;")
            .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// Per version of `repo`: the base commit of its most recently created instance (SWE-bench's
    /// environment commit rule; ties broken by instance id) and the number of instances.
    pub fn version_groups(&self, repo: &str) -> Result<Vec<(String, String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.version, arg_max(i.base_commit, i.created_at || ' ' || i.instance_id), count(*)
                 FROM pins p JOIN instances i USING (instance_id)
                 WHERE p.repo = ? AND p.version IS NOT NULL
                 GROUP BY p.version ORDER BY p.version",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![repo], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64)))
            .map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }

    /// Replaces `repo`'s versions in one transaction.
    pub fn replace_versions(&mut self, repo: &str, versions: &[VersionRecord]) -> Result<(), StoreError> {
        let db = db_error(&self.path);
        let now = now_ts();
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute("DELETE FROM versions WHERE repo = ?", params![repo]).map_err(db)?;
        {
            let mut ins = tx.prepare("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").map_err(db)?;
            for v in versions {
                ins.execute(params![
                    v.repo,
                    v.version,
                    v.env_commit,
                    v.python,
                    v.python_source,
                    v.cutoff,
                    v.instances as i64,
                    v.recipe,
                    now
                ])
                .map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }

    /// Stored versions, ordered by repo and version.
    pub fn versions(&self) -> Result<Vec<VersionRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT repo, version, env_commit, python, python_source, cutoff, instances, recipe
                 FROM versions ORDER BY repo, version",
            )
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(VersionRecord {
                    repo: r.get(0)?,
                    version: r.get(1)?,
                    env_commit: r.get(2)?,
                    python: r.get(3)?,
                    python_source: r.get(4)?,
                    cutoff: r.get(5)?,
                    instances: r.get::<_, i64>(6)?.max(0) as u64,
                    recipe: r.get(7)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }

    /// The pin of one instance.
    pub fn pin(&self, instance_id: &str) -> Result<Option<PinRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT instance_id, repo, version, raw_version, method, reason, rule_hash FROM pins
                 WHERE instance_id = ?",
            )
            .map_err(self.db_err())?;
        let mut rows = stmt
            .query_map(params![instance_id], |r| {
                Ok(PinRecord {
                    instance_id: r.get(0)?,
                    repo: r.get(1)?,
                    version: r.get(2)?,
                    raw_version: r.get(3)?,
                    method: r.get(4)?,
                    reason: r.get(5)?,
                    rule_hash: r.get(6)?,
                })
            })
            .map_err(self.db_err())?;
        rows.next().transpose().map_err(self.db_err())
    }

    /// Pinned instances whose version differs from their published one: (id, ours, published).
    pub fn pin_disagreements(&self, repo: &str) -> Result<Vec<(String, Option<String>, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.instance_id, p.version, pub.version FROM pins p JOIN published pub USING (instance_id)
                 WHERE p.repo = ? AND pub.version IS NOT NULL AND p.version IS DISTINCT FROM pub.version
                 ORDER BY p.instance_id",
            )
            .map_err(self.db_err())?;
        let rows = stmt.query_map(params![repo], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }
}

impl Store {
    /// Imported instances of `repo` with a published version that we pinned: (compared, agreeing).
    pub fn pin_agreement(&self, repo: &str) -> Result<(u64, u64), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*), count(*) FILTER (WHERE p.version = pub.version)
                 FROM pins p JOIN published pub USING (instance_id)
                 WHERE p.repo = ? AND pub.version IS NOT NULL",
                params![repo],
                |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get::<_, i64>(1)?.max(0) as u64)),
            )
            .map_err(self.db_err())
    }
}

impl Store {
    /// instance_id → version, for every instance pinned to a version.
    pub fn pinned_versions(&self) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT instance_id, version FROM pins WHERE version IS NOT NULL")
            .map_err(self.db_err())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.db_err())?;
        rows.collect::<Result<_, _>>().map_err(self.db_err())
    }
}
