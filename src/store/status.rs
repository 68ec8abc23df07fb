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
            q AS (SELECT repo, CAST(sum(requests) AS BIGINT) AS n FROM api_requests GROUP BY repo)
            SELECT names.repo, coalesce(p.scanned, 0), coalesce(p.merged, 0), coalesce(p.linked, 0),
                   coalesce(i.n, 0), coalesce(i.with_tests, 0), coalesce(p.failed, 0), coalesce(q.n, 0),
                   repos.last_mined_at, repos.last_error
            FROM names
            LEFT JOIN p USING (repo) LEFT JOIN i USING (repo) LEFT JOIN q USING (repo)
            LEFT JOIN repos USING (repo)
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
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }
}
