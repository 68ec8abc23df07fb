//! The `import` stage: existing task instances (SWE-bench / SWE-Gym schema, JSONL or Parquet) into
//! the workspace, as if mined. Their published `version`, FAIL_TO_PASS and PASS_TO_PASS are kept as
//! reference values, so later stages can report how far they agree.
//!
//! Accepted variations, as found in the wild: FAIL_TO_PASS / PASS_TO_PASS as lists or as JSON
//! strings holding lists; `created_at` as `2024-02-19T20:29:03Z`, `2024-02-19 20:29:03` or with an
//! offset or fraction; missing `hints_text`, `version` or `environment_setup_commit`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::model::{RawInstance, RepoName};
use crate::store::{InstanceFilter, PublishedValues, Store, StoreError};

/// Errors of `import`; each names the file, and the line or row where it can.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {detail}")]
    Row { path: PathBuf, line: usize, detail: String },
    #[error("{path}: not a JSONL or Parquet file (by extension or content); pass --format")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: {detail}")]
    Parquet { path: PathBuf, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Jsonl,
    Parquet,
}

/// What `import` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    pub path: PathBuf,
    pub rows: u64,
    /// Instances added or updated.
    pub imported: u64,
    /// Rows whose instance was mined already: only their published values were recorded.
    pub kept_mined: u64,
}

/// One row as published: lists may arrive as lists or as JSON strings.
#[derive(Debug, Clone, Deserialize)]
struct PublishedRow {
    instance_id: String,
    repo: String,
    base_commit: String,
    patch: String,
    #[serde(default)]
    test_patch: String,
    problem_statement: String,
    #[serde(default)]
    hints_text: Option<String>,
    created_at: String,
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(rename = "FAIL_TO_PASS", default)]
    fail_to_pass: Option<serde_json::Value>,
    #[serde(rename = "PASS_TO_PASS", default)]
    pass_to_pass: Option<serde_json::Value>,
    #[serde(default)]
    environment_setup_commit: Option<String>,
}

/// `["a", "b"]` or `"[\"a\", \"b\"]"` → the list.
fn test_list(v: Option<&serde_json::Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| format!("test name is not a string: {i}")))
            .collect(),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(serde_json::Value::String(s)) => {
            let parsed: serde_json::Value =
                serde_json::from_str(s).map_err(|e| format!("a JSON string holding a list was expected: {e}"))?;
            match parsed {
                serde_json::Value::Array(_) => test_list(Some(&parsed)),
                other => Err(format!("a list of test names was expected, found {other}")),
            }
        }
        Some(other) => Err(format!("a list of test names was expected, found {other}")),
    }
}

/// Any of the `created_at` forms seen in datasets → `YYYY-MM-DDTHH:MM:SSZ`.
pub fn normalize_created_at(s: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(crate::store::ts(t.with_timezone(&Utc)));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(crate::store::ts(t.and_utc()));
        }
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(crate::store::ts(t.with_timezone(&Utc)));
        }
    }
    None
}

fn version_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        // Some dumps carry versions as numbers (`0.2`), which loses trailing zeros; keep the text.
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn convert(row: PublishedRow, source: &str) -> Result<(RawInstance, PublishedValues), String> {
    let repo: RepoName = row.repo.parse().map_err(|e: crate::model::BadRepoName| e.to_string())?;
    let pull_number = row
        .instance_id
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .ok_or_else(|| format!("instance_id `{}` does not end in -<pull number>", row.instance_id))?;
    let created_at = normalize_created_at(&row.created_at)
        .ok_or_else(|| format!("created_at `{}` is not a time like 2024-02-19T20:29:03Z", row.created_at))?;
    let fail_to_pass = test_list(row.fail_to_pass.as_ref()).map_err(|e| format!("FAIL_TO_PASS: {e}"))?;
    let pass_to_pass = test_list(row.pass_to_pass.as_ref()).map_err(|e| format!("PASS_TO_PASS: {e}"))?;
    let instance = RawInstance {
        instance_id: row.instance_id.clone(),
        repo: repo.to_string(),
        pull_number,
        issue_numbers: Vec::new(),
        base_commit: row.base_commit,
        patch: row.patch,
        test_patch: row.test_patch,
        problem_statement: row.problem_statement,
        hints_text: row.hints_text.unwrap_or_default(),
        created_at,
    };
    let published = PublishedValues {
        instance_id: row.instance_id,
        version: version_text(row.version.as_ref()),
        fail_to_pass,
        pass_to_pass,
        environment_setup_commit: row.environment_setup_commit.filter(|s| !s.is_empty()),
        source: source.to_string(),
    };
    Ok((instance, published))
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// A JSONL or Parquet file.
    pub path: PathBuf,
    /// The file's format; detected from the extension, else the first bytes, when `None`.
    pub format: Option<InputFormat>,
}

/// Reads `path` (format from `format`, else the extension, else the first bytes) and stores every
/// row in one transaction: a bad row fails the whole import, naming file and line.
pub fn import(cx: &mut Context, opts: &ImportOptions) -> Result<ImportSummary, ImportError> {
    let (store, path) = (&mut cx.store, opts.path.as_path());
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(path)?,
    };
    let rows = match format {
        InputFormat::Jsonl => read_jsonl(path)?,
        InputFormat::Parquet => read_parquet(store, path)?,
    };
    let source = path.display().to_string();
    let mut converted = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let c = convert(row, &source).map_err(|detail| ImportError::Row { path: path.to_path_buf(), line, detail })?;
        converted.push(c);
    }
    let total = converted.len() as u64;
    let kept_mined = store.write_imported(&converted)?;
    // The Lite membership of what was imported, computed once for status, the lite split and the card.
    store.update_lite(&InstanceFilter::all())?;
    Ok(ImportSummary { path: path.to_path_buf(), rows: total, imported: total - kept_mined, kept_mined })
}

fn detect_format(path: &Path) -> Result<InputFormat, ImportError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jsonl" | "json" | "ndjson") => return Ok(InputFormat::Jsonl),
        Some("parquet") => return Ok(InputFormat::Parquet),
        _ => {}
    }
    let mut head = [0u8; 4];
    let io = |source| ImportError::Io { path: path.to_path_buf(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let n = std::io::Read::read(&mut f, &mut head).map_err(io)?;
    if n == 4 && &head == b"PAR1" {
        Ok(InputFormat::Parquet)
    } else if n > 0 && head[0] == b'{' {
        Ok(InputFormat::Jsonl)
    } else {
        Err(ImportError::UnknownFormat { path: path.to_path_buf() })
    }
}

fn read_jsonl(path: &Path) -> Result<Vec<(usize, PublishedRow)>, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: PublishedRow = serde_json::from_str(line).map_err(|e| ImportError::Row {
            path: path.to_path_buf(),
            line: i + 1,
            detail: e.to_string(),
        })?;
        out.push((i + 1, row));
    }
    Ok(out)
}

/// Parquet through DuckDB: each row becomes a JSON object (lists stay lists, strings stay strings),
/// then goes through the same conversion as JSONL.
fn read_parquet(store: &Store, path: &Path) -> Result<Vec<(usize, PublishedRow)>, ImportError> {
    use duckdb::types::Value;
    let quoted = path.to_string_lossy().replace('\'', "''");
    let err = |e: duckdb::Error| ImportError::Parquet { path: path.to_path_buf(), detail: e.to_string() };
    let conn = store.conn();
    let mut describe = conn.prepare(&format!("DESCRIBE SELECT * FROM read_parquet('{quoted}')")).map_err(err)?;
    let columns: Vec<String> =
        describe.query_map([], |r| r.get::<_, String>(0)).map_err(err)?.collect::<Result<_, _>>().map_err(err)?;
    let mut stmt = conn.prepare(&format!("SELECT * FROM read_parquet('{quoted}')")).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(r) = rows.next().map_err(err)? {
        n += 1;
        let mut obj = serde_json::Map::new();
        for (i, name) in columns.iter().enumerate() {
            let v: Value = r.get(i).map_err(err)?;
            obj.insert(name.clone(), to_json(v));
        }
        let row: PublishedRow = serde_json::from_value(serde_json::Value::Object(obj))
            .map_err(|e| ImportError::Row { path: path.to_path_buf(), line: n, detail: e.to_string() })?;
        out.push((n, row));
    }
    Ok(out)
}

fn to_json(v: duckdb::types::Value) -> serde_json::Value {
    use duckdb::types::Value;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => b.into(),
        Value::TinyInt(i) => i.into(),
        Value::SmallInt(i) => i.into(),
        Value::Int(i) => i.into(),
        Value::BigInt(i) => i.into(),
        Value::UTinyInt(i) => i.into(),
        Value::USmallInt(i) => i.into(),
        Value::UInt(i) => i.into(),
        Value::UBigInt(i) => i.into(),
        Value::Float(f) => f64::from(f).into(),
        Value::Double(f) => f.into(),
        Value::Text(s) => s.into(),
        Value::List(items) | Value::Array(items) => serde_json::Value::Array(items.into_iter().map(to_json).collect()),
        // Timestamps and the rest: their SQL text is what we need (created_at).
        other => format!("{other:?}").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_forms() {
        for s in
            ["2024-02-19T20:29:03Z", "2024-02-19 20:29:03", "2024-02-19T20:29:03.000Z", "2024-02-19T21:29:03+01:00"]
        {
            assert_eq!(normalize_created_at(s).as_deref(), Some("2024-02-19T20:29:03Z"), "{s}");
        }
        assert_eq!(normalize_created_at("yesterday"), None);
    }

    #[test]
    fn test_lists_as_lists_or_json_strings() {
        let a = serde_json::json!(["t::a", "t::b[x y]"]);
        let s = serde_json::Value::String(a.to_string());
        assert_eq!(test_list(Some(&a)).unwrap(), ["t::a", "t::b[x y]"]);
        assert_eq!(test_list(Some(&s)).unwrap(), ["t::a", "t::b[x y]"]);
        assert!(test_list(Some(&serde_json::json!("not json"))).is_err());
        assert!(test_list(None).unwrap().is_empty());
    }
}
