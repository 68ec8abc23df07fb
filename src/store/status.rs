//! The `status` query: the mining funnel per repository.

use serde::Serialize;

use super::{Store, StoreError};

/// One repository's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepoStatus {
    pub repo: String,
    /// Pull requests listed (closed, merged or not).
    pub pulls_scanned: u64,
    pub merged: u64,
    /// Merged PRs that name at least one issue of the repository with a closing keyword.
    pub linked: u64,
    pub instances: u64,
    pub instances_with_tests: u64,
    /// PRs whose processing failed (retried on the next run).
    pub failed: u64,
    pub requests: u64,
    /// Instances with a version, and without one (reason recorded per instance).
    pub pinned: u64,
    pub pin_not_found: u64,
    pub versions: u64,
    /// Imported instances whose published version we compared with ours, and how many agree.
    pub published_compared: u64,
    pub published_agree: u64,
    pub envs_built: u64,
    pub envs_failed: u64,
    pub images_built: u64,
    pub images_failed: u64,
    /// Disk used by this repository's environment and instance layers.
    pub image_bytes: u64,
    /// Instances with a built instance image.
    pub instances_built: u64,
    /// Instances validated, curated (≥ 1 FAIL_TO_PASS) and, of those, meeting the Lite criteria.
    pub validated: u64,
    pub curated: u64,
    pub lite: u64,
    /// Validated but not curated, by reason (most frequent first).
    pub rejected: Vec<(String, u64)>,
    /// Environments built on another Python than wanted (`version wanted→used`).
    pub python_substitutions: Vec<String>,
    pub last_mined_at: Option<String>,
    pub last_error: Option<String>,
}

impl Store {
    /// Counts per repository, ordered by name.
    pub fn status(&self) -> Result<Vec<RepoStatus>, StoreError> {
        let sql = "
            WITH names AS (
                SELECT repo FROM repos UNION SELECT repo FROM pulls UNION SELECT repo FROM instances
            ),
            p AS (
                SELECT repo, count(*) AS scanned,
                       count(*) FILTER (WHERE merged_at IS NOT NULL) AS merged,
                       count(*) FILTER (WHERE len(issue_numbers) > 0) AS linked,
                       count(*) FILTER (WHERE outcome = 'failed') AS failed
                FROM pulls GROUP BY repo
            ),
            i AS (
                SELECT repo, count(*) AS n, count(*) FILTER (WHERE test_patch <> '') AS with_tests
                FROM instances GROUP BY repo
            ),
            q AS (SELECT repo, CAST(sum(requests) AS BIGINT) AS n FROM api_requests GROUP BY repo),
            pn AS (
                SELECT pins.repo, count(*) FILTER (WHERE pins.version IS NOT NULL) AS pinned,
                       count(*) FILTER (WHERE pins.version IS NULL) AS missing,
                       count(pub.version) AS compared,
                       count(*) FILTER (WHERE pins.version = pub.version) AS agree
                FROM pins LEFT JOIN published pub USING (instance_id) GROUP BY pins.repo
            ),
            vs AS (SELECT repo, count(*) AS n FROM versions GROUP BY repo),
            -- Lite = curated and no failed criterion in the stored membership.
            val AS (
                SELECT i.repo, count(*) AS validated,
                       count(*) FILTER (WHERE v.status = 'curated') AS curated,
                       count(*) FILTER (WHERE v.status = 'curated' AND l.rejections = '[]') AS lite
                FROM validations v JOIN instances i USING (instance_id) LEFT JOIN lite l USING (instance_id)
                GROUP BY i.repo
            )
            SELECT names.repo, coalesce(p.scanned, 0), coalesce(p.merged, 0), coalesce(p.linked, 0),
                   coalesce(i.n, 0), coalesce(i.with_tests, 0), coalesce(p.failed, 0), coalesce(q.n, 0),
                   repos.last_mined_at, repos.last_error,
                   coalesce(pn.pinned, 0), coalesce(pn.missing, 0), coalesce(vs.n, 0),
                   coalesce(pn.compared, 0), coalesce(pn.agree, 0),
                   coalesce(val.validated, 0), coalesce(val.curated, 0), coalesce(val.lite, 0)
            FROM names
            LEFT JOIN p USING (repo) LEFT JOIN i USING (repo) LEFT JOIN q USING (repo)
            LEFT JOIN repos USING (repo) LEFT JOIN pn USING (repo) LEFT JOIN vs USING (repo)
            LEFT JOIN val USING (repo)
            ORDER BY names.repo";
        let mut stmt = self.conn.prepare(sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map([], |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                Ok(RepoStatus {
                    repo: r.get(0)?,
                    pulls_scanned: n(1)?,
                    merged: n(2)?,
                    linked: n(3)?,
                    instances: n(4)?,
                    instances_with_tests: n(5)?,
                    failed: n(6)?,
                    requests: n(7)?,
                    last_mined_at: r.get(8)?,
                    last_error: r.get(9)?,
                    pinned: n(10)?,
                    pin_not_found: n(11)?,
                    versions: n(12)?,
                    published_compared: n(13)?,
                    published_agree: n(14)?,
                    validated: n(15)?,
                    curated: n(16)?,
                    lite: n(17)?,
                    ..Default::default()
                })
            })
            .map_err(self.db_err())?;
        let mut rows = rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())?;
        for img in self.image_status()? {
            if let Some(r) = rows.iter_mut().find(|r| r.repo == img.repo) {
                r.envs_built = img.envs_built;
                r.envs_failed = img.envs_failed;
                r.images_built = img.instances_built;
                r.images_failed = img.instances_failed;
                r.image_bytes = img.bytes;
                r.python_substitutions = img.substitutions;
            }
        }
        for (repo, reason, n) in self.rejection_reasons()? {
            if let Some(r) = rows.iter_mut().find(|r| r.repo == repo) {
                r.rejected.push((reason, n));
            }
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT i.repo, count(DISTINCT img.instance_id) FROM images img JOIN instances i USING (instance_id)
                 WHERE img.tier = 'instance' AND img.status = 'built' GROUP BY i.repo",
            )
            .map_err(self.db_err())?;
        let built = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))
            .map_err(self.db_err())?;
        for b in built {
            let (repo, n) = b.map_err(self.db_err())?;
            if let Some(r) = rows.iter_mut().find(|r| r.repo == repo) {
                r.instances_built = n;
            }
        }
        Ok(rows)
    }
}
