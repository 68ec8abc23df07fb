//! The `export` stage: dataset files in SWE-Gym's published schema.
//!
//! Files are written to a temporary name beside the target and renamed into place, so a reader
//! never sees half a file and a killed export leaves the previous one intact.

pub mod card;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use duckdb::params;
use serde::Serialize;

use crate::context::Context;
use crate::model::ExportRow;
use crate::store::{now_ts, InstanceFilter, Store, StoreError};

/// Which instances to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Split {
    /// Every mined or imported instance with a non-empty `test_patch` (not validated; lists empty).
    Raw,
    /// The curated instances: validated, with at least one FAIL_TO_PASS test (SWE-Gym).
    Full,
    /// The curated instances that meet the SWE-bench Lite criteria (SWE-Gym Lite).
    Lite,
}

impl Split {
    /// `raw`, `full` or `lite`: the file name of the split.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Format {
    Jsonl,
    Parquet,
}

impl Format {
    /// `jsonl` or `parquet`.
    pub fn extension(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub splits: Vec<Split>,
    pub formats: Vec<Format>,
    pub out_dir: PathBuf,
    /// Add environment_setup_commit, pull_number, issue_numbers, image, python, recipe, flaky,
    /// FAIL_TO_FAIL and PASS_TO_FAIL to full and lite rows.
    pub extended: bool,
    /// Write the dataset card (README.md) and its chart beside the files.
    pub card: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    pub split: Split,
    pub path: PathBuf,
    pub format: Format,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub files: Vec<ExportedFile>,
    /// The dataset card and chart, when written.
    pub card: Option<PathBuf>,
    pub chart: Option<PathBuf>,
    /// Curated instances left out of Lite, per criterion.
    pub lite_rejections: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("dataset card: {0}")]
    Card(#[from] minijinja::Error),
}

/// Name of the chart written beside the card.
pub const CHART_FILE: &str = "repos.svg";

/// Writes `<out_dir>/<split>.<ext>` for each split and format, then the dataset card.
pub fn export(cx: &mut Context, opts: &ExportOptions) -> Result<ExportSummary, ExportError> {
    let store = &mut cx.store;
    // Mine and import store the Lite membership of what they write; a workspace made before
    // memberships were stored has none yet.
    store.update_lite(&InstanceFilter::all())?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(&opts.out_dir).map_err(io(&opts.out_dir))?;
    let mut summary = ExportSummary { files: Vec::new(), card: None, chart: None, lite_rejections: BTreeMap::new() };
    let mut splits = opts.splits.clone();
    splits.sort();
    splits.dedup();
    for &split in &splits {
        let rows = split_rows(store, split, opts.extended, &mut summary.lite_rejections)?;
        for &format in &opts.formats {
            let path = opts.out_dir.join(format!("{}.{}", split.as_str(), format.extension()));
            let tmp = opts.out_dir.join(format!(".{}.{}.tmp", split.as_str(), format.extension()));
            match format {
                Format::Jsonl => write_jsonl(&rows, &tmp)?,
                Format::Parquet => write_parquet(store, &rows, split, opts.extended, &tmp)?,
            }
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            summary.files.push(ExportedFile { split, path, format, rows: rows.len() as u64 });
        }
    }
    if opts.card {
        let card = opts.out_dir.join("README.md");
        let chart = opts.out_dir.join(CHART_FILE);
        let repos = funnel(store)?;
        write_atomic(&chart, card::repo_chart_svg(&repos).as_bytes())?;
        let mut failures: BTreeMap<String, u64> = BTreeMap::new();
        for (_, reason, n) in store.rejection_reasons()? {
            *failures.entry(reason).or_default() += n;
        }
        let input = card::CardInput {
            title: "SWE-Gym-style dataset built with swegym-build".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            generated_at: now_ts(),
            repos,
            files: summary
                .files
                .iter()
                .map(|f| card::CardFile {
                    split: f.split.as_str().into(),
                    format: f.format.extension().into(),
                    file_name: f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                    rows: f.rows,
                })
                .collect(),
            failures: failures.into_iter().collect(),
            chart_file: CHART_FILE.into(),
        };
        write_atomic(&card, card::render_card(&input)?.as_bytes())?;
        summary.card = Some(card);
        summary.chart = Some(chart);
    }
    Ok(summary)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |source| ExportError::Io { path: path.to_path_buf(), source };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Per repository: PRs → linked → with tests → pinned → built → validated → curated → Lite.
pub fn funnel(store: &Store) -> Result<Vec<card::RepoFunnel>, StoreError> {
    Ok(store
        .status()?
        .into_iter()
        .map(|s| card::RepoFunnel {
            repo: s.repo,
            pulls: s.pulls_scanned,
            linked: s.linked,
            with_tests: s.instances_with_tests,
            pinned: s.pinned,
            built: s.instances_built,
            validated: s.validated,
            curated: s.curated,
            lite: s.lite,
        })
        .collect())
}

/// The rows of one split, in a stable order (repository, pull number, id).
pub fn split_rows(
    store: &Store,
    split: Split,
    extended: bool,
    lite_rejections: &mut BTreeMap<String, u64>,
) -> Result<Vec<ExportRow>, StoreError> {
    let mut rows = match split {
        Split::Raw => return raw_rows(store),
        Split::Full => store.curated_rows()?,
        Split::Lite => {
            let memberships = store.curated_lite()?;
            let mut kept = Vec::new();
            for row in store.curated_rows()? {
                // `export` stores every missing membership before it reads: none is absent there.
                let Some(rejections) = memberships.get(&row.instance_id) else { continue };
                if rejections.is_empty() {
                    kept.push(row);
                }
                for r in rejections {
                    *lite_rejections.entry(r.code.clone()).or_default() += 1;
                }
            }
            kept
        }
    };
    if !extended {
        for r in &mut rows {
            r.pull_number = None;
            r.issue_numbers = None;
            r.extended = None;
        }
    }
    Ok(rows)
}

/// The raw rows: published fields (lists empty, version when pinned) plus `pull_number` and
/// `issue_numbers`.
pub fn raw_rows(store: &Store) -> Result<Vec<ExportRow>, StoreError> {
    let versions = store.pinned_versions()?;
    let mut rows: Vec<ExportRow> = store
        .instances(true)?
        .into_iter()
        .map(|i| ExportRow {
            version: versions.get(&i.instance_id).cloned().unwrap_or_default(),
            instance_id: i.instance_id,
            repo: i.repo,
            base_commit: i.base_commit,
            patch: i.patch,
            test_patch: i.test_patch,
            problem_statement: i.problem_statement,
            hints_text: i.hints_text,
            created_at: i.created_at,
            fail_to_pass: Vec::new(),
            pass_to_pass: Vec::new(),
            pull_number: Some(i.pull_number),
            issue_numbers: Some(i.issue_numbers),
            extended: None,
        })
        .collect();
    rows.sort_by(|a, b| (&a.repo, a.pull_number, &a.instance_id).cmp(&(&b.repo, b.pull_number, &b.instance_id)));
    Ok(rows)
}

fn write_jsonl(rows: &[ExportRow], path: &Path) -> Result<(), ExportError> {
    let io = |source| ExportError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::new(file);
    for row in rows {
        serde_json::to_writer(&mut w, row).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
    }
    w.flush().map_err(io)?;
    w.get_ref().sync_all().map_err(io)
}

/// Parquet through DuckDB: scalar columns and list items are appended to two temporary tables,
/// and the lists are rebuilt with `list(… ORDER BY pos)`, so test ids of any shape (quotes,
/// commas, brackets) survive exactly and the columns are `list<string>` as SWE-Gym publishes them.
fn write_parquet(
    store: &Store,
    rows: &[ExportRow],
    split: Split,
    extended: bool,
    path: &Path,
) -> Result<(), ExportError> {
    let db = store.db_err();
    let conn = store.conn();
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS export_rows (
            idx BIGINT, instance_id VARCHAR, repo VARCHAR, base_commit VARCHAR, patch VARCHAR,
            test_patch VARCHAR, problem_statement VARCHAR, hints_text VARCHAR, created_at VARCHAR,
            version VARCHAR, pull_number BIGINT, environment_setup_commit VARCHAR, image VARCHAR,
            python VARCHAR, python_wanted VARCHAR, recipe VARCHAR);
         CREATE TEMP TABLE IF NOT EXISTS export_lists (idx BIGINT, list VARCHAR, pos BIGINT, item VARCHAR);
         DELETE FROM export_rows; DELETE FROM export_lists;",
    )
    .map_err(db)?;
    {
        let mut app = conn.appender_to_catalog_and_db("export_rows", "temp", "main").map_err(db)?;
        let mut lists = conn.appender_to_catalog_and_db("export_lists", "temp", "main").map_err(db)?;
        for (idx, r) in rows.iter().enumerate() {
            let idx = idx as i64;
            let x = r.extended.as_ref();
            app.append_row(params![
                idx,
                r.instance_id,
                r.repo,
                r.base_commit,
                r.patch,
                r.test_patch,
                r.problem_statement,
                r.hints_text,
                r.created_at,
                r.version,
                r.pull_number.map(|n| n as i64),
                x.and_then(|x| x.environment_setup_commit.clone()),
                x.map(|x| x.image.clone()),
                x.and_then(|x| x.python.clone()),
                x.and_then(|x| x.python_wanted.clone()),
                x.and_then(|x| x.recipe.clone())
            ])
            .map_err(db)?;
            let issues: Vec<String> = r.issue_numbers.iter().flatten().map(u64::to_string).collect();
            let empty = Vec::new();
            let named: [(&str, &Vec<String>); 6] = [
                ("FAIL_TO_PASS", &r.fail_to_pass),
                ("PASS_TO_PASS", &r.pass_to_pass),
                ("FAIL_TO_FAIL", x.map_or(&empty, |x| &x.fail_to_fail)),
                ("PASS_TO_FAIL", x.map_or(&empty, |x| &x.pass_to_fail)),
                ("flaky", x.map_or(&empty, |x| &x.flaky)),
                ("issue_numbers", &issues),
            ];
            for (name, items) in named {
                for (pos, item) in items.iter().enumerate() {
                    lists.append_row(params![idx, name, pos as i64, item]).map_err(db)?;
                }
            }
        }
        app.flush().map_err(db)?;
        lists.flush().map_err(db)?;
    }
    let list = |name: &str, ty: &str| {
        let item = if ty == "BIGINT" { "CAST(item AS BIGINT)" } else { "item" };
        format!(
            "coalesce((SELECT list({item} ORDER BY pos) FROM export_lists l WHERE l.idx = r.idx AND l.list = '{name}'), CAST([] AS {ty}[])) AS {name}"
        )
    };
    let mut cols = vec![
        "instance_id".to_string(),
        "repo".into(),
        "base_commit".into(),
        "patch".into(),
        "test_patch".into(),
        "problem_statement".into(),
        "hints_text".into(),
        "created_at".into(),
        "version".into(),
        list("FAIL_TO_PASS", "VARCHAR"),
        list("PASS_TO_PASS", "VARCHAR"),
    ];
    if split == Split::Raw || extended {
        cols.push("pull_number".into());
        cols.push(list("issue_numbers", "BIGINT"));
    }
    if split != Split::Raw && extended {
        cols.extend([
            "environment_setup_commit".to_string(),
            "image".into(),
            "python".into(),
            "python_wanted".into(),
            "recipe".into(),
        ]);
        cols.push(list("flaky", "VARCHAR"));
        cols.push(list("FAIL_TO_FAIL", "VARCHAR"));
        cols.push(list("PASS_TO_FAIL", "VARCHAR"));
    }
    let target = path.to_string_lossy().replace('\'', "''");
    let sql = format!(
        "COPY (SELECT {} FROM export_rows r ORDER BY r.idx) TO '{target}' (FORMAT PARQUET, COMPRESSION ZSTD)",
        cols.join(", ")
    );
    conn.execute(&sql, []).map_err(db)?;
    conn.execute_batch("DELETE FROM export_rows; DELETE FROM export_lists;").map_err(db)?;
    Ok(())
}
