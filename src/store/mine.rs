//! Typed reads and writes of the `mine` stage.

use std::collections::HashMap;

use duckdb::params;

use super::{db_error, int_list, now_ts, parse_int_list, Store, StoreError};
use crate::model::RawInstance;

/// What became of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum PullOutcome {
    /// Closed without merging: costs nothing beyond the list page.
    Unmerged,
    /// Merged, but no closing keyword names an issue.
    NoLink,
    /// Named numbers, but none is an issue of this repository (pull requests, missing).
    NoIssue,
    /// Linked, but the diff touches only test files.
    NoPatch,
    /// A raw task instance was stored.
    Instance,
    /// A request failed (reason in `detail`); processed again on the next run.
    Failed,
}

impl PullOutcome {
    /// Every outcome.
    pub const ALL: &'static [PullOutcome] = <Self as strum::VariantArray>::VARIANTS;

    /// The stored name, e.g. `no_link`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// One row of `pulls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRecord {
    pub repo: String,
    pub number: u64,
    pub title: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
    pub merged_at: Option<String>,
    pub base_sha: String,
    pub outcome: PullOutcome,
    pub detail: Option<String>,
    pub referenced: Vec<u64>,
    pub issue_numbers: Vec<u64>,
    pub first_commit_at: Option<String>,
    pub content_hash: String,
}

/// One row of `issues` (a number that may turn out to be a pull request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRecord {
    pub repo: String,
    pub number: u64,
    pub is_pull: bool,
    pub title: String,
    pub body: String,
    pub comment_count: u64,
}

/// What the mining loop hands to the writer in one transaction.
#[derive(Debug, Default)]
pub struct MinedBatch {
    pub pulls: Vec<PullRecord>,
    pub issues: Vec<IssueRecord>,
    pub instances: Vec<RawInstance>,
}

impl MinedBatch {
    pub fn is_empty(&self) -> bool {
        self.pulls.is_empty() && self.issues.is_empty() && self.instances.is_empty()
    }
    pub fn len(&self) -> usize {
        self.pulls.len()
    }
}

/// Upserts one `instances` row; shared by every stage that creates instances.
pub(super) const INSERT_INSTANCE: &str =
    "INSERT OR REPLACE INTO instances VALUES (?, ?, ?, CAST(? AS BIGINT[]), ?, ?, ?, ?, ?, ?, ?, ?)";

pub(super) fn insert_instance(
    stmt: &mut duckdb::Statement<'_>,
    i: &RawInstance,
    source: &str,
    now: &str,
) -> duckdb::Result<usize> {
    stmt.execute(params![
        i.instance_id,
        i.repo,
        i.pull_number as i64,
        int_list(&i.issue_numbers),
        i.base_commit,
        i.patch,
        i.test_patch,
        i.problem_statement,
        i.hints_text,
        i.created_at,
        source,
        now,
    ])
}

/// What a new listing needs to know of a pull request already in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPull {
    pub outcome: PullOutcome,
    pub content_hash: String,
}

impl Store {
    /// Writes a batch in one transaction: upserts pulls, issues and instances; a pull that is no
    /// longer an instance loses its instance row.
    pub fn write_mined(&mut self, batch: &MinedBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let db = db_error(&self.path);
        let now = now_ts();
        // Pulls are the bulk (a 100-PR list page of unmerged PRs is one batch): append them to a
        // staging table and upsert with one statement. A batch may list a PR twice (a page shift
        // during listing); the last record wins.
        let mut last: std::collections::HashMap<(&str, u64), usize> = std::collections::HashMap::new();
        for (i, p) in batch.pulls.iter().enumerate() {
            last.insert((p.repo.as_str(), p.number), i);
        }
        let tx = self.conn.transaction().map_err(db)?;
        {
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS stage_pulls (
                    repo VARCHAR, number BIGINT, title VARCHAR, body VARCHAR, created_at VARCHAR,
                    updated_at VARCHAR, merged_at VARCHAR, base_sha VARCHAR, outcome VARCHAR, detail VARCHAR,
                    referenced VARCHAR, issue_numbers VARCHAR, first_commit_at VARCHAR, content_hash VARCHAR,
                    processed_at VARCHAR);
                 DELETE FROM stage_pulls;",
            )
            .map_err(db)?;
            {
                let mut app = tx.appender_to_catalog_and_db("stage_pulls", "temp", "main").map_err(db)?;
                for (i, p) in batch.pulls.iter().enumerate() {
                    if last.get(&(p.repo.as_str(), p.number)) != Some(&i) {
                        continue;
                    }
                    app.append_row(params![
                        p.repo,
                        p.number as i64,
                        p.title,
                        p.body,
                        p.created_at,
                        p.updated_at,
                        p.merged_at,
                        p.base_sha,
                        p.outcome.as_str(),
                        p.detail,
                        int_list(&p.referenced),
                        int_list(&p.issue_numbers),
                        p.first_commit_at,
                        p.content_hash,
                        now,
                    ])
                    .map_err(db)?;
                }
                app.flush().map_err(db)?;
            }
            tx.execute_batch(
                "INSERT OR REPLACE INTO pulls
                 SELECT repo, number, title, body, created_at, updated_at, merged_at, base_sha, outcome, detail,
                        CAST(referenced AS BIGINT[]), CAST(issue_numbers AS BIGINT[]), first_commit_at,
                        content_hash, processed_at
                 FROM stage_pulls;
                 -- A PR processed again that is no longer an instance loses its instance row.
                 DELETE FROM instances WHERE source = 'mined' AND instance_id IN (
                     SELECT replace(repo, '/', '__') || '-' || CAST(number AS VARCHAR)
                     FROM stage_pulls WHERE outcome IN ('no_link', 'no_issue', 'no_patch'));
                 DELETE FROM stage_pulls;",
            )
            .map_err(db)?;
            let mut issue = tx.prepare("INSERT OR REPLACE INTO issues VALUES (?, ?, ?, ?, ?, ?, ?)").map_err(db)?;
            for i in &batch.issues {
                issue
                    .execute(params![i.repo, i.number as i64, i.is_pull, i.title, i.body, i.comment_count as i64, now])
                    .map_err(db)?;
            }
            let mut inst = tx.prepare(INSERT_INSTANCE).map_err(db)?;
            for i in &batch.instances {
                insert_instance(&mut inst, i, "mined", &now).map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }

    /// Pull requests of `repo` already in the store, by number.
    pub fn known_pulls(&self, repo: &str) -> Result<HashMap<u64, KnownPull>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT number, outcome, content_hash FROM pulls WHERE repo = ?")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![repo], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(self.db_err())?;
        let mut out = HashMap::new();
        for row in rows {
            let (n, outcome, content_hash) = row.map_err(self.db_err())?;
            let outcome = PullOutcome::parse(&outcome).unwrap_or(PullOutcome::Failed);
            out.insert(n as u64, KnownPull { outcome, content_hash });
        }
        Ok(out)
    }

    /// Pull requests of `repo` by number; only the failed ones (to process again) if `failed_only`.
    pub fn pulls(&self, repo: &str, failed_only: bool) -> Result<Vec<PullRecord>, StoreError> {
        let sql = format!(
            "SELECT repo, number, title, body, created_at, updated_at, merged_at, base_sha, outcome, detail,
                    CAST(referenced AS VARCHAR), CAST(issue_numbers AS VARCHAR), first_commit_at, content_hash
             FROM pulls WHERE repo = ? {} ORDER BY number",
            if failed_only { "AND outcome = 'failed'" } else { "" }
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![repo], |r| {
                Ok(PullRecord {
                    repo: r.get(0)?,
                    number: r.get::<_, i64>(1)? as u64,
                    title: r.get(2)?,
                    body: r.get(3)?,
                    created_at: r.get(4)?,
                    updated_at: r.get(5)?,
                    merged_at: r.get(6)?,
                    base_sha: r.get(7)?,
                    outcome: PullOutcome::parse(&r.get::<_, String>(8)?).unwrap_or(PullOutcome::Failed),
                    detail: r.get(9)?,
                    referenced: parse_int_list(&r.get::<_, String>(10)?),
                    issue_numbers: parse_int_list(&r.get::<_, String>(11)?),
                    first_commit_at: r.get(12)?,
                    content_hash: r.get(13)?,
                })
            })
            .map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }

    /// Issues and pull requests of `repo` fetched earlier, by number.
    pub fn known_issues(&self, repo: &str) -> Result<HashMap<u64, IssueRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT repo, number, is_pull, title, body, comment_count FROM issues WHERE repo = ?")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(params![repo], |r| {
                Ok(IssueRecord {
                    repo: r.get(0)?,
                    number: r.get::<_, i64>(1)? as u64,
                    is_pull: r.get(2)?,
                    title: r.get(3)?,
                    body: r.get(4)?,
                    comment_count: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(self.db_err())?;
        let mut out = HashMap::new();
        for row in rows {
            let i = row.map_err(self.db_err())?;
            out.insert(i.number, i);
        }
        Ok(out)
    }

    /// The `updated_at` of the newest PR of the last complete listing of `repo`.
    pub fn pulls_cursor(&self, repo: &str) -> Result<Option<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT pulls_cursor FROM repos WHERE repo = ?").map_err(self.db_err())?;
        let mut rows = stmt.query(params![repo]).map_err(self.db_err())?;
        match rows.next().map_err(self.db_err())? {
            Some(r) => r.get(0).map_err(self.db_err()),
            None => Ok(None),
        }
    }

    /// Records the end of a mining run of `repo`: the new cursor (if the listing was complete),
    /// the error (if any) and the requests it used, in one transaction.
    pub fn finish_repo_run(
        &mut self,
        repo: &str,
        cursor: Option<&str>,
        error: Option<&str>,
        requests: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        let db = db_error(&self.path);
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO repos (repo, pulls_cursor, last_mined_at, last_error) VALUES (?, ?, ?, ?)
             ON CONFLICT (repo) DO UPDATE SET pulls_cursor = coalesce(excluded.pulls_cursor, repos.pulls_cursor),
                 last_mined_at = excluded.last_mined_at, last_error = excluded.last_error",
            params![repo, cursor, now_ts(), error],
        )
        .map_err(db)?;
        for (kind, n) in requests {
            if *n == 0 {
                continue;
            }
            tx.execute(
                "INSERT INTO api_requests VALUES (?, ?, ?)
                 ON CONFLICT (repo, kind) DO UPDATE SET requests = api_requests.requests + excluded.requests",
                params![repo, kind, *n as i64],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Every stored instance, ordered by repo and pull number.
    pub fn instances(&self, with_tests_only: bool) -> Result<Vec<RawInstance>, StoreError> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances i {} ORDER BY i.repo, i.pull_number, i.instance_id",
            if with_tests_only { "WHERE i.test_patch <> ''" } else { "" }
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.db_err())?;
        let rows = stmt.query_map([], raw_instance).map_err(self.db_err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.db_err())
    }
}

/// The columns [`raw_instance`] reads, of `instances` aliased `i`, first in a SELECT; other stages'
/// queries join their tables to them.
pub(super) const INSTANCE_COLUMNS: &str = "i.instance_id, i.repo, i.pull_number, CAST(i.issue_numbers AS VARCHAR),
    i.base_commit, i.patch, i.test_patch, i.problem_statement, i.hints_text, i.created_at";

/// Number of [`INSTANCE_COLUMNS`]: the next column's index.
pub(super) const INSTANCE_COLUMN_COUNT: usize = 10;

/// An instance from the first [`INSTANCE_COLUMNS`] of a row.
pub(super) fn raw_instance(r: &duckdb::Row<'_>) -> duckdb::Result<RawInstance> {
    Ok(RawInstance {
        instance_id: r.get(0)?,
        repo: r.get(1)?,
        pull_number: r.get::<_, i64>(2)?.max(0) as u64,
        issue_numbers: parse_int_list(&r.get::<_, String>(3)?),
        base_commit: r.get(4)?,
        patch: r.get(5)?,
        test_patch: r.get(6)?,
        problem_statement: r.get(7)?,
        hints_text: r.get(8)?,
        created_at: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Access;
    use crate::workspace::Workspace;

    fn pull(n: u64, outcome: PullOutcome) -> PullRecord {
        PullRecord {
            repo: "o/r".into(),
            number: n,
            title: "t".into(),
            body: "b".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            updated_at: "2024-01-02T00:00:00Z".into(),
            merged_at: Some("2024-01-02T00:00:00Z".into()),
            base_sha: "abc".into(),
            outcome,
            detail: None,
            referenced: vec![3, 4],
            issue_numbers: vec![3],
            first_commit_at: None,
            content_hash: "h".into(),
        }
    }

    fn instance(n: u64) -> RawInstance {
        RawInstance {
            instance_id: format!("o__r-{n}"),
            repo: "o/r".into(),
            pull_number: n,
            issue_numbers: vec![3],
            base_commit: "abc".into(),
            patch: "p".into(),
            test_patch: "tp".into(),
            problem_statement: "ps".into(),
            hints_text: String::new(),
            created_at: "2024-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn upserting_the_same_pull_twice_in_one_and_two_transactions_keeps_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        let batch =
            MinedBatch { pulls: vec![pull(1, PullOutcome::Instance)], issues: vec![], instances: vec![instance(1)] };
        s.write_mined(&batch).unwrap();
        s.write_mined(&batch).unwrap();
        assert_eq!(s.known_pulls("o/r").unwrap().len(), 1);
        assert_eq!(s.instances(false).unwrap(), vec![instance(1)]);
        // Processed again and no longer an instance: the instance row goes.
        s.write_mined(&MinedBatch { pulls: vec![pull(1, PullOutcome::NoLink)], ..Default::default() }).unwrap();
        assert!(s.instances(false).unwrap().is_empty());
        assert_eq!(s.known_pulls("o/r").unwrap()[&1].outcome, PullOutcome::NoLink);
    }

    #[test]
    fn failed_pulls_round_trip_with_lists() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        let mut p = pull(2, PullOutcome::Failed);
        p.detail = Some("HTTP 502".into());
        s.write_mined(&MinedBatch { pulls: vec![p.clone()], ..Default::default() }).unwrap();
        assert_eq!(s.pulls("o/r", true).unwrap(), vec![p]);
    }

    #[test]
    fn cursor_is_kept_when_a_run_reports_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&Workspace::new(dir.path()), Access::ReadWrite).unwrap();
        s.finish_repo_run("o/r", Some("2024-01-01T00:00:00Z"), None, &[("pull_list", 2)]).unwrap();
        s.finish_repo_run("o/r", None, Some("boom"), &[("pull_list", 3)]).unwrap();
        assert_eq!(s.pulls_cursor("o/r").unwrap().as_deref(), Some("2024-01-01T00:00:00Z"));
        let n: i64 = s.conn().query_row("SELECT requests FROM api_requests", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 5);
    }
}
