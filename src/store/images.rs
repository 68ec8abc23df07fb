//! Typed reads and writes of the `build` stage.

use duckdb::types::Type;
use duckdb::{params, ToSql};
use serde::{Deserialize, Serialize};

use super::mine::{raw_instance, INSTANCE_COLUMNS, INSTANCE_COLUMN_COUNT};
use super::{now_ts, InstanceFilter, Store, StoreError, VersionRecord};
use crate::model::RawInstance;

/// Which of the three tiers an image belongs to; stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, strum::Display, strum::EnumString, strum::AsRefStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ImageTier {
    /// OS + Python + git + a venv.
    Base,
    /// One per (repo, version): the repository at its environment commit, dependencies installed.
    Env,
    /// One per instance: the repository at `base_commit` on its environment.
    Instance,
}

/// How an image's build ended; stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, strum::Display, strum::EnumString, strum::AsRefStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum BuildStatus {
    /// Built and every check passed: the tag names a good image.
    Built,
    /// The build or a check failed; the engine holds no image under the tag.
    Failed,
}

/// Lets callers (and tests) compare with the stored names, e.g. `record.tier == "env"`.
macro_rules! eq_stored_name {
    ($t:ty) => {
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_ref() == *other
            }
        }
    };
}
eq_stored_name!(ImageTier);
eq_stored_name!(BuildStatus);

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
    pub tier: ImageTier,
    pub repo: Option<String>,
    pub version: Option<String>,
    pub instance_id: Option<String>,
    pub parent: Option<String>,
    pub python_wanted: Option<String>,
    pub python_used: Option<String>,
    pub base_source: Option<String>,
    /// `embedded`, `file:<path>`, `suggested` or `none`.
    pub recipe: Option<String>,
    /// The recipe's `[[env]]` the image was built with, as JSON (`recipe::EnvSpec::to_json`):
    /// `validate` reads its test command and selection from here. `None` for base images and
    /// for images recorded before schema v7.
    pub env_spec: Option<String>,
    pub status: BuildStatus,
    pub image_id: Option<String>,
    pub size_bytes: Option<u64>,
    pub checks: Vec<Check>,
    pub error: Option<String>,
    pub log_path: Option<String>,
    pub seconds: f64,
}

impl ImageRecord {
    /// A record of `tier` with nothing known yet: failed until a build says otherwise, so an
    /// interrupted or crashed build never leaves a record claiming a good image.
    pub fn new(tag: impl Into<String>, tier: ImageTier) -> Self {
        Self {
            tag: tag.into(),
            tier,
            repo: None,
            version: None,
            instance_id: None,
            parent: None,
            python_wanted: None,
            python_used: None,
            base_source: None,
            recipe: None,
            env_spec: None,
            status: BuildStatus::Failed,
            image_id: None,
            size_bytes: None,
            checks: vec![],
            error: None,
            log_path: None,
            seconds: 0.0,
        }
    }
}

/// A pinned instance and the environment (its version's record) it is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildTarget {
    pub instance: RawInstance,
    pub version: VersionRecord,
}

/// What `build` works on for a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildTargets {
    /// Ordered by repository, version, pull number and instance id.
    pub targets: Vec<BuildTarget>,
    /// Selected instances without a version (or whose version has no environment yet): see `pin`.
    pub unpinned: u64,
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
                       status, image_id, size_bytes, checks, error, log_path, seconds, env_spec";

/// Reads an enum stored as its name; an unknown name is a conversion error, not a panic.
fn stored_name<T: std::str::FromStr<Err = strum::ParseError>>(r: &duckdb::Row<'_>, i: usize) -> duckdb::Result<T> {
    r.get::<_, String>(i)?.parse().map_err(|e| duckdb::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}

fn image_record(r: &duckdb::Row<'_>) -> duckdb::Result<ImageRecord> {
    let checks: Option<String> = r.get(13)?;
    Ok(ImageRecord {
        tag: r.get(0)?,
        tier: stored_name(r, 1)?,
        repo: r.get(2)?,
        version: r.get(3)?,
        instance_id: r.get(4)?,
        parent: r.get(5)?,
        python_wanted: r.get(6)?,
        python_used: r.get(7)?,
        base_source: r.get(8)?,
        recipe: r.get(9)?,
        status: stored_name(r, 10)?,
        image_id: r.get(11)?,
        size_bytes: r.get::<_, Option<i64>>(12)?.map(|s| s.max(0) as u64),
        checks: checks.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default(),
        error: r.get(14)?,
        log_path: r.get(15)?,
        seconds: r.get::<_, Option<f64>>(16)?.unwrap_or(0.0),
        env_spec: r.get(17)?,
    })
}

impl Store {
    pub fn write_image(&mut self, r: &ImageRecord) -> Result<(), StoreError> {
        let checks = serde_json::to_string(&r.checks).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                &format!("INSERT OR REPLACE INTO images ({COLUMNS}, built_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                params![
                    r.tag,
                    r.tier.as_ref(),
                    r.repo,
                    r.version,
                    r.instance_id,
                    r.parent,
                    r.python_wanted,
                    r.python_used,
                    r.base_source,
                    r.recipe,
                    r.status.as_ref(),
                    r.image_id,
                    r.size_bytes.map(|s| s as i64),
                    checks,
                    r.error,
                    r.log_path,
                    r.seconds,
                    r.env_spec,
                    now_ts()
                ],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Images matching a SQL condition on the `images` table.
    fn images_where(&self, cond: &str, args: &[&dyn ToSql]) -> Result<Vec<ImageRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM images WHERE {cond} ORDER BY tier, tag");
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt.query_map(args, image_record).map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }

    pub fn image(&self, tag: &str) -> Result<Option<ImageRecord>, StoreError> {
        Ok(self.images_where("tag = ?", &[&tag])?.into_iter().next())
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        self.images_where("true", &[])
    }

    /// The good images built on `parent` (an environment's instance images): what a build of
    /// that environment's instances can reuse.
    pub fn built_on(&self, parent: &str) -> Result<Vec<ImageRecord>, StoreError> {
        self.images_where("parent = ? AND status = ?", &[&parent, &BuildStatus::Built.as_ref()])
    }

    /// The selected instances with a test patch, each with the environment its version is built
    /// in, and how many selected instances have none.
    pub fn build_targets(&self, filter: &InstanceFilter) -> Result<BuildTargets, StoreError> {
        let (cond, args) = filter.sql("i.repo", "i.instance_id");
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS},
                    v.repo, v.version, v.env_commit, v.python, v.python_source, v.cutoff, v.instances, v.recipe
             FROM instances i
             LEFT JOIN pins p ON p.instance_id = i.instance_id
             LEFT JOIN versions v ON v.repo = p.repo AND v.version = p.version
             WHERE i.test_patch <> '' AND {cond}
             ORDER BY v.repo, v.version, i.repo, i.pull_number, i.instance_id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(&args), |r| {
                let instance = raw_instance(r)?;
                let c = INSTANCE_COLUMN_COUNT;
                let Some(repo) = r.get::<_, Option<String>>(c)? else { return Ok((instance, None)) };
                let version = VersionRecord {
                    repo,
                    version: r.get(c + 1)?,
                    env_commit: r.get(c + 2)?,
                    python: r.get(c + 3)?,
                    python_source: r.get(c + 4)?,
                    cutoff: r.get(c + 5)?,
                    instances: r.get::<_, i64>(c + 6)?.max(0) as u64,
                    recipe: r.get(c + 7)?,
                };
                Ok((instance, Some(version)))
            })
            .map_err(self.db_err())?;
        let mut out = BuildTargets::default();
        for row in rows {
            match row.map_err(self.db_err())? {
                (instance, Some(version)) => out.targets.push(BuildTarget { instance, version }),
                (_, None) => out.unpinned += 1,
            }
        }
        Ok(out)
    }

    /// Per-repository image counts, sizes and Python substitutions.
    pub fn image_status(&self) -> Result<Vec<ImageStatus>, StoreError> {
        let mut out: std::collections::BTreeMap<String, ImageStatus> = Default::default();
        for r in self.images()? {
            let Some(repo) = r.repo.clone() else { continue };
            let s = out.entry(repo.clone()).or_insert_with(|| ImageStatus { repo, ..Default::default() });
            let built = r.status == BuildStatus::Built;
            match (r.tier, built) {
                (ImageTier::Env, true) => s.envs_built += 1,
                (ImageTier::Env, false) => s.envs_failed += 1,
                (ImageTier::Instance, true) => s.instances_built += 1,
                (ImageTier::Instance, false) => s.instances_failed += 1,
                (ImageTier::Base, _) => {}
            }
            if built {
                s.bytes += r.size_bytes.unwrap_or(0);
            }
            if r.tier == ImageTier::Env && r.python_wanted.is_some() && r.python_wanted != r.python_used {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::{Access, MinedBatch, PinRecord};
    use crate::workspace::Workspace;

    pub(in crate::store) fn instance(repo: &str, n: u64) -> RawInstance {
        RawInstance {
            instance_id: format!("{}-{n}", repo.replace('/', "__")),
            repo: repo.into(),
            pull_number: n,
            issue_numbers: vec![n + 100],
            base_commit: format!("{n:040}"),
            patch: "p".into(),
            test_patch: "tp".into(),
            problem_statement: "ps".into(),
            hints_text: String::new(),
            created_at: "2024-01-01T00:00:00Z".into(),
        }
    }

    /// `acme/calc` 1 and 2 pinned to 1.0 (which has an environment), 3 to nothing; `o/r` 1
    /// pinned to 2.0, which has none.
    pub(in crate::store) fn pinned_store(dir: &std::path::Path) -> (Store, VersionRecord) {
        let mut store = Store::open(&Workspace::new(dir), Access::ReadWrite).unwrap();
        let instances =
            vec![instance("acme/calc", 1), instance("acme/calc", 2), instance("acme/calc", 3), instance("o/r", 1)];
        store.write_mined(&MinedBatch { instances: instances.clone(), ..Default::default() }).unwrap();
        let pins: Vec<PinRecord> = instances
            .iter()
            .map(|i| PinRecord {
                instance_id: i.instance_id.clone(),
                repo: i.repo.clone(),
                version: match (i.repo.as_str(), i.pull_number) {
                    ("acme/calc", 3) => None,
                    ("acme/calc", _) => Some("1.0".into()),
                    _ => Some("2.0".into()),
                },
                raw_version: None,
                method: None,
                reason: None,
                rule_hash: "h".into(),
            })
            .collect();
        store.write_pins(&pins).unwrap();
        let version = VersionRecord {
            repo: "acme/calc".into(),
            version: "1.0".into(),
            env_commit: instances[1].base_commit.clone(),
            python: "3.11".into(),
            python_source: "recipe".into(),
            cutoff: "2024-01-01T00:00:00Z".into(),
            instances: 2,
            recipe: "embedded".into(),
        };
        store.replace_versions("acme/calc", std::slice::from_ref(&version)).unwrap();
        (store, version)
    }

    #[test]
    fn build_targets_are_the_selected_instances_with_an_environment() {
        let dir = tempfile::tempdir().unwrap();
        let (store, version) = pinned_store(dir.path());
        let all = store.build_targets(&InstanceFilter::all()).unwrap();
        let ids: Vec<&str> = all.targets.iter().map(|t| t.instance.instance_id.as_str()).collect();
        assert_eq!(ids, ["acme__calc-1", "acme__calc-2"]);
        assert_eq!(all.targets[0].instance, instance("acme/calc", 1));
        assert_eq!(all.targets[0].version, version);
        assert_eq!(all.unpinned, 2, "calc-3 has no version, o/r's version no environment");
        let filter =
            InstanceFilter { repos: vec!["ACME/Calc".parse().unwrap()], instances: vec!["acme__calc-2".into()] };
        let one = store.build_targets(&filter).unwrap();
        assert_eq!(one.targets.len(), 1);
        assert_eq!(one.targets[0].instance.instance_id, "acme__calc-2");
        assert_eq!(one.unpinned, 0);
    }

    #[test]
    fn tiers_and_states_keep_their_stored_names() {
        assert_eq!(ImageTier::Env.to_string(), "env");
        assert_eq!("instance".parse::<ImageTier>().unwrap(), ImageTier::Instance);
        assert_eq!(BuildStatus::Built.as_ref(), "built");
        assert!(BuildStatus::Failed == "failed");
        assert!("reused".parse::<BuildStatus>().is_err());
    }

    #[test]
    fn image_records_round_trip_with_their_env_spec() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        let record = ImageRecord {
            repo: Some("acme/calc".into()),
            parent: Some("swegym/env.acme__calc:1.0-abc".into()),
            env_spec: Some(r#"{"test_cmd":"pytest"}"#.into()),
            status: BuildStatus::Built,
            checks: vec![Check { name: "import".into(), ok: true, detail: String::new() }],
            ..ImageRecord::new("swegym/eval.acme__calc-1:abc", ImageTier::Instance)
        };
        store.write_image(&record).unwrap();
        let failed = ImageRecord {
            parent: record.parent.clone(),
            ..ImageRecord::new("swegym/eval.acme__calc-2:def", ImageTier::Instance)
        };
        store.write_image(&failed).unwrap();
        assert_eq!(store.image(&record.tag).unwrap(), Some(record.clone()));
        // Failed images are not offered for reuse.
        assert_eq!(store.built_on("swegym/env.acme__calc:1.0-abc").unwrap(), vec![record]);
    }
}
