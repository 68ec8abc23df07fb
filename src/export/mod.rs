//! The `export` stage: dataset files in SWE-Gym's published schema.
//!
//! Files are written to a temporary name beside the target and renamed into place, so a reader
//! never sees half a file and a killed export leaves the previous one intact.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::ExportRow;
use crate::store::{Store, StoreError};

/// Which instances to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Every mined instance with a non-empty `test_patch` (not yet validated).
    Raw,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Raw => "raw",
        }
    }
}

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Parquet,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub split: Split,
    pub formats: Vec<Format>,
    pub out_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    pub path: PathBuf,
    pub format: Format,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub split: Split,
    pub files: Vec<ExportedFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Writes `<out_dir>/<split>.<ext>` for each format.
pub fn export(store: &Store, opts: &ExportOptions) -> Result<ExportSummary, ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(&opts.out_dir).map_err(io(&opts.out_dir))?;
    let mut files = Vec::new();
    for &format in &opts.formats {
        let path = opts.out_dir.join(format!("{}.{}", opts.split.as_str(), format.extension()));
        let tmp = opts.out_dir.join(format!(".{}.{}.tmp", opts.split.as_str(), format.extension()));
        let rows = match format {
            Format::Jsonl => write_jsonl(store, &tmp)?,
            Format::Parquet => write_parquet(store, &tmp)?,
        };
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        files.push(ExportedFile { path, format, rows });
    }
    Ok(ExportSummary { split: opts.split, files })
}

/// The raw rows: published fields (unknown ones empty) plus `pull_number` and `issue_numbers`.
pub fn raw_rows(store: &Store) -> Result<Vec<ExportRow>, StoreError> {
    Ok(store
        .instances(true)?
        .into_iter()
        .map(|i| ExportRow {
            instance_id: i.instance_id,
            repo: i.repo,
            base_commit: i.base_commit,
            patch: i.patch,
            test_patch: i.test_patch,
            problem_statement: i.problem_statement,
            hints_text: i.hints_text,
            created_at: i.created_at,
            version: String::new(),
            fail_to_pass: Vec::new(),
            pass_to_pass: Vec::new(),
            pull_number: Some(i.pull_number),
            issue_numbers: Some(i.issue_numbers),
        })
        .collect())
}

fn write_jsonl(store: &Store, path: &Path) -> Result<u64, ExportError> {
    let io = |source| ExportError::Io { path: path.to_path_buf(), source };
    let rows = raw_rows(store)?;
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::new(file);
    for row in &rows {
        serde_json::to_writer(&mut w, row).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
    }
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)?;
    Ok(rows.len() as u64)
}

fn write_parquet(store: &Store, path: &Path) -> Result<u64, ExportError> {
    let target = path.to_string_lossy().replace('\'', "''");
    let sql = format!(
        "COPY (
            SELECT instance_id, repo, base_commit, patch, test_patch, problem_statement, hints_text,
                   created_at, '' AS version,
                   CAST([] AS VARCHAR[]) AS FAIL_TO_PASS, CAST([] AS VARCHAR[]) AS PASS_TO_PASS,
                   pull_number, issue_numbers
            FROM instances WHERE test_patch <> ''
            ORDER BY repo, pull_number, instance_id
         ) TO '{target}' (FORMAT PARQUET, COMPRESSION ZSTD)"
    );
    let n = store.conn().execute(&sql, []).map_err(store.db_err())?;
    Ok(n as u64)
}
