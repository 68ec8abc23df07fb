//! The DuckDB store: the only way stages talk to each other.
//!
//! One process writes a workspace at a time. DuckDB enforces that too, but its error names no
//! process; a lock file next to the database does, and lets `status` read while nobody writes.

mod evaluate;
mod filter;
mod images;
mod import;
mod lite;
mod mine;
mod pin;
mod report;
mod schema;
mod status;
mod validate;

pub use evaluate::{EvaluationRecord, ScoringTarget};
pub use filter::InstanceFilter;
pub use images::{BuildStatus, BuildTarget, BuildTargets, Check, ImageRecord, ImageStatus, ImageTier};
pub use import::PublishedValues;
pub use lite::StoredRejection;
pub use mine::{IssueRecord, KnownPull, MinedBatch, PullOutcome, PullRecord};
pub use pin::{PinCandidate, PinRecord, VersionRecord};
pub use report::{PublishedComparison, ValidationOutcome};
pub use status::RepoStatus;
pub use validate::{OutcomeLists, RunRecord, ValidationCandidate, ValidationRecord};

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use duckdb::Connection;

use crate::workspace::Workspace;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("workspace {path} is in use by another swegym-build run ({holder}); wait for it to finish, or pass another --workspace")]
    Busy { path: PathBuf, holder: String },
    #[error("cannot use workspace {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("database {path}: {source}")]
    Db { path: PathBuf, source: duckdb::Error },
    #[error("database {path} has schema version {found}, but this swegym-build knows only up to {supported}; use a newer swegym-build")]
    TooNew { path: PathBuf, found: usize, supported: usize },
    #[error("no database in {path} yet: run `swegym-build mine` (or `import`) first")]
    Missing { path: PathBuf },
    #[error("database {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{0}")]
    Export(String),
}

/// Whether the store is opened to write (exclusive) or only to read (shared with other readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// An open workspace database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the workspace database, takes the workspace lock and brings the
    /// schema up to date.
    pub fn open(ws: &Workspace, access: Access) -> Result<Self, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        if access == Access::ReadOnly && !ws.database().exists() {
            return Err(StoreError::Missing { path: ws.root().to_path_buf() });
        }
        ws.create_dirs().map_err(io(ws.root()))?;
        let lock = take_lock(&ws.lock_file(), access)?;
        let path = ws.database();
        let db = db_error(&path);
        let conn = match access {
            Access::ReadWrite => Connection::open(&path).map_err(db)?,
            Access::ReadOnly => {
                let cfg = duckdb::Config::default().access_mode(duckdb::AccessMode::ReadOnly).map_err(db)?;
                Connection::open_with_flags(&path, cfg).map_err(db)?
            }
        };
        let mut store = Self { conn, path, _lock: lock };
        if access == Access::ReadWrite {
            store.migrate()?;
        } else if store.check_version()? < schema::MIGRATIONS.len() {
            // Written by an older swegym-build: bring it up to date once (which needs the write
            // lock for a moment), then read. Reading the old schema would fail on the first
            // table or column it lacks.
            drop(store);
            drop(Self::open(ws, Access::ReadWrite)?);
            return Self::open(ws, Access::ReadOnly);
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn db_err(&self) -> impl Fn(duckdb::Error) -> StoreError + Copy + '_ {
        db_error(&self.path)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let exists: i64 = self
            .conn
            .query_row("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'", [], |r| {
                r.get(0)
            })
            .map_err(self.db_err())?;
        if exists == 0 {
            return Ok(0);
        }
        let v: i64 = self
            .conn
            .query_row("SELECT coalesce(max(version), 0) FROM schema_version", [], |r| r.get(0))
            .map_err(self.db_err())?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    fn check_version(&self) -> Result<usize, StoreError> {
        let found = self.schema_version()?;
        if found > schema::MIGRATIONS.len() {
            return Err(StoreError::TooNew { path: self.path.clone(), found, supported: schema::MIGRATIONS.len() });
        }
        Ok(found)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.check_version()?;
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at VARCHAR NOT NULL)",
            )
            .map_err(self.db_err())?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found) {
            let version = i + 1;
            let db = db_error(&self.path);
            let tx = self.conn.transaction().map_err(db)?;
            tx.execute_batch(sql).map_err(db)?;
            tx.execute("INSERT INTO schema_version VALUES (?, ?)", duckdb::params![version as i64, now_ts()])
                .map_err(db)?;
            tx.commit().map_err(db)?;
            tracing::debug!(version, "applied schema migration");
        }
        Ok(())
    }
}

/// Maps a DuckDB error to one naming the database file. Takes the path field alone, so it can be
/// used while a transaction borrows the connection.
pub(crate) fn db_error(path: &Path) -> impl Fn(duckdb::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Db { path: path.to_path_buf(), source }
}

fn take_lock(path: &Path, access: Access) -> Result<File, StoreError> {
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
    let taken = match access {
        Access::ReadWrite => file.try_lock(),
        Access::ReadOnly => file.try_lock_shared(),
    };
    match taken {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { "another process".to_string() } else { holder.to_string() };
            return Err(StoreError::Busy { path: path.parent().unwrap_or(path).to_path_buf(), holder });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    if access == Access::ReadWrite {
        // Say who holds it, for the message another run prints.
        let who = format!("pid {}, started {}", std::process::id(), now_ts());
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
    }
    Ok(file)
}

/// The current time as stored: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_ts() -> String {
    ts(chrono::Utc::now())
}

/// A time as stored: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A list of integers as a DuckDB list literal, for `CAST(? AS BIGINT[])`.
pub(crate) fn int_list(values: &[u64]) -> String {
    let items: Vec<String> = values.iter().map(u64::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// Parses DuckDB's text form of an integer list (`[1, 2]`).
pub(crate) fn parse_int_list(text: &str) -> Vec<u64> {
    text.trim_matches(|c| c == '[' || c == ']').split(',').filter_map(|s| s.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_of_a_database_from_an_older_version_upgrades_it_first() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let latest = schema::MIGRATIONS.len();
        {
            // As the previous swegym-build left it: every migration but the last.
            ws.create_dirs().unwrap();
            let conn = Connection::open(ws.database()).unwrap();
            conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at VARCHAR NOT NULL)")
                .unwrap();
            for (i, sql) in schema::MIGRATIONS[..latest - 1].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute("INSERT INTO schema_version VALUES (?, 'then')", duckdb::params![(i + 1) as i64]).unwrap();
            }
        }
        let reader = Store::open(&ws, Access::ReadOnly).unwrap();
        assert_eq!(reader.schema_version().unwrap(), latest, "`status` on it works, after an upgrade");
    }

    #[test]
    fn second_writer_gets_a_busy_error_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let _first = Store::open(&ws, Access::ReadWrite).unwrap();
        let Err(err) = Store::open(&ws, Access::ReadWrite) else { panic!("second open succeeded") };
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Busy { .. }), "{msg}");
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
    }

    #[test]
    fn migrations_run_once_and_reopen_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        {
            let s = Store::open(&ws, Access::ReadWrite).unwrap();
            assert_eq!(s.schema_version().unwrap(), schema::MIGRATIONS.len());
        }
        let s = Store::open(&ws, Access::ReadWrite).unwrap();
        let n: i64 = s.conn().query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(n as usize, schema::MIGRATIONS.len());
    }

    #[test]
    fn read_only_open_of_missing_database_says_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let Err(err) = Store::open(&Workspace::new(dir.path().join("none")), Access::ReadOnly) else { panic!() };
        assert!(err.to_string().contains("swegym-build mine"), "{err}");
    }

    #[test]
    fn int_lists_round_trip() {
        assert_eq!(parse_int_list(&int_list(&[3, 1, 2])), vec![3, 1, 2]);
        assert_eq!(parse_int_list("[]"), Vec::<u64>::new());
    }
}
