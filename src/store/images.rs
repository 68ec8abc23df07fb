//! Typed reads and writes of the `build` stage.

use duckdb::params;
use serde::{Deserialize, Serialize};

use super::{now_ts, Store, StoreError};

/// One check run on a built image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// One image, built or failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRecord {
    pub tag: String,
    pub tier: String,
    pub repo: Option<String>,
    pub version: Option<String>,
    pub instance_id: Option<String>,
    pub parent: Option<String>,
    pub python_wanted: Option<String>,
    pub python_used: Option<String>,
    pub base_source: Option<String>,
    pub recipe: Option<String>,
    pub status: String,
    pub image_id: Option<String>,
    pub size_bytes: Option<u64>,
    pub checks: Vec<Check>,
    pub error: Option<String>,
    pub log_path: Option<String>,
    pub seconds: f64,
}

/// Per-repository image counts and sizes for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageStatus {
    pub repo: String,
    pub envs_built: u64,
    pub envs_failed: u64,
    pub instances_built: u64,
    pub instances_failed: u64,
    pub bytes: u64,
    /// Environments built on a Python other than the one wanted: "wanted→used".
    pub substitutions: Vec<String>,
}

const COLUMNS: &str = "tag, tier, repo, version, instance_id, parent, python_wanted, python_used, base_source, recipe,
                       status, image_id, size_bytes, checks, error, log_path, seconds";

impl Store {
    pub fn write_image(&mut self, r: &ImageRecord) -> Result<(), StoreError> {
        let checks = serde_json::to_string(&r.checks).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                &format!("INSERT OR REPLACE INTO images ({COLUMNS}, built_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                params![
                    r.tag,
                    r.tier,
                    r.repo,
                    r.version,
                    r.instance_id,
                    r.parent,
                    r.python_wanted,
                    r.python_used,
                    r.base_source,
                    r.recipe,
                    r.status,
                    r.image_id,
                    r.size_bytes.map(|s| s as i64),
                    checks,
                    r.error,
                    r.log_path,
                    r.seconds,
                    now_ts()
                ],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Images matching a SQL condition on the `images` table (internal helper).
    fn images_where(&self, cond: &str, arg: Option<&str>) -> Result<Vec<ImageRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM images WHERE {cond} ORDER BY tier, tag");
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let map = |r: &duckdb::Row<'_>| {
            let checks: Option<String> = r.get(13)?;
            Ok(ImageRecord {
                tag: r.get(0)?,
                tier: r.get(1)?,
                repo: r.get(2)?,
                version: r.get(3)?,
                instance_id: r.get(4)?,
                parent: r.get(5)?,
                python_wanted: r.get(6)?,
                python_used: r.get(7)?,
                base_source: r.get(8)?,
                recipe: r.get(9)?,
                status: r.get(10)?,
                image_id: r.get(11)?,
                size_bytes: r.get::<_, Option<i64>>(12)?.map(|s| s.max(0) as u64),
                checks: checks.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default(),
                error: r.get(14)?,
                log_path: r.get(15)?,
                seconds: r.get::<_, Option<f64>>(16)?.unwrap_or(0.0),
            })
        };
        let rows = match arg {
            Some(a) => stmt.query_map(params![a], map),
            None => stmt.query_map([], map),
        }
        .map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }

    pub fn image(&self, tag: &str) -> Result<Option<ImageRecord>, StoreError> {
        Ok(self.images_where("tag = ?", Some(tag))?.into_iter().next())
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        self.images_where("true", None)
    }

    /// The latest instance image record of an instance.
    pub fn instance_image(&self, instance_id: &str) -> Result<Option<ImageRecord>, StoreError> {
        let mut all = self.images_where("tier = 'instance' AND instance_id = ?", Some(instance_id))?;
        all.sort_by_key(|r| r.status != "built");
        Ok(all.into_iter().next())
    }

    /// Per-repository image counts, sizes and Python substitutions.
    pub fn image_status(&self) -> Result<Vec<ImageStatus>, StoreError> {
        let mut out: std::collections::BTreeMap<String, ImageStatus> = Default::default();
        for r in self.images()? {
            let Some(repo) = r.repo.clone() else { continue };
            let s = out.entry(repo.clone()).or_insert_with(|| ImageStatus { repo, ..Default::default() });
            let built = r.status == "built";
            match (r.tier.as_str(), built) {
                ("env", true) => s.envs_built += 1,
                ("env", false) => s.envs_failed += 1,
                ("instance", true) => s.instances_built += 1,
                ("instance", false) => s.instances_failed += 1,
                _ => {}
            }
            if built {
                s.bytes += r.size_bytes.unwrap_or(0);
            }
            if r.tier == "env" && r.python_wanted.is_some() && r.python_wanted != r.python_used {
                s.substitutions.push(format!(
                    "{} {}→{}",
                    r.version.as_deref().unwrap_or("?"),
                    r.python_wanted.as_deref().unwrap_or("?"),
                    r.python_used.as_deref().unwrap_or("?")
                ));
            }
        }
        Ok(out.into_values().collect())
    }
}
