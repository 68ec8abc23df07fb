//! The dataset card (`README.md`, Hugging Face dataset-card style) and its per-repository chart,
//! written beside the exported files. Both are pure functions of their input: the same input gives
//! byte-identical output.
//!
//! The card's text lives in a template (`card.md.j2`) rendered with strict undefined behaviour, so a
//! misspelt or missing variable is an error rather than a silent blank in a published card. The
//! template gets a `CardContext`: the input ordered and summed, nothing formatted; the filters
//! `count`, `percent`, `cell` and `yaml` format numbers, Markdown cells and YAML scalars.

mod chart;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::lite::{MAX_PATCH_HUNKS, MIN_PROBLEM_WORDS};

pub use chart::repo_chart_svg;

/// How many instances of one repository survived each pipeline stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoFunnel {
    pub repo: String,
    /// Merged pull requests listed.
    pub pulls: u64,
    /// … that resolve a linked issue.
    pub linked: u64,
    /// … with a non-empty `test_patch`.
    pub with_tests: u64,
    /// … with a version and environment commit.
    pub pinned: u64,
    /// … whose environment image was built.
    pub built: u64,
    /// … that went through validation.
    pub validated: u64,
    /// … with at least one FAIL_TO_PASS test (the `full` split).
    pub curated: u64,
    /// … that also meet the Lite criteria (the `lite` split).
    pub lite: u64,
}

impl RepoFunnel {
    /// The sum over `repos`, named `Total`.
    pub fn total(repos: &[RepoFunnel]) -> RepoFunnel {
        let mut t = RepoFunnel { repo: "Total".to_string(), ..RepoFunnel::default() };
        for r in repos {
            t.pulls += r.pulls;
            t.linked += r.linked;
            t.with_tests += r.with_tests;
            t.pinned += r.pinned;
            t.built += r.built;
            t.validated += r.validated;
            t.curated += r.curated;
            t.lite += r.lite;
        }
        t
    }
}

/// One exported file.
#[derive(Debug, Clone, Serialize)]
pub struct CardFile {
    /// `full`, `lite`, `raw`, …
    pub split: String,
    /// `parquet`, `jsonl`, …
    pub format: String,
    /// Relative to the card.
    pub file_name: String,
    pub rows: u64,
}

/// Everything the card shows.
#[derive(Debug, Clone, Serialize)]
pub struct CardInput {
    pub title: String,
    pub tool_version: String,
    pub generated_at: String,
    pub repos: Vec<RepoFunnel>,
    pub files: Vec<CardFile>,
    /// Reason → count.
    pub failures: Vec<(String, u64)>,
    /// The chart's file name relative to the card, e.g. `repos.svg`.
    pub chart_file: String,
}

/// The funnel stages in pipeline order: column header, [`RepoFunnel`] field, meaning.
const STAGES: [Stage; 8] = [
    Stage { name: "PRs", field: "pulls", meaning: "merged pull requests listed" },
    Stage { name: "linked", field: "linked", meaning: "resolve at least one linked issue" },
    Stage { name: "with tests", field: "with_tests", meaning: "change tests (non-empty `test_patch`)" },
    Stage { name: "pinned", field: "pinned", meaning: "version and environment commit determined" },
    Stage { name: "env built", field: "built", meaning: "environment image built and checked" },
    Stage { name: "validated", field: "validated", meaning: "run before and after the gold patch" },
    Stage { name: "curated", field: "curated", meaning: "at least one FAIL_TO_PASS test (`full` split)" },
    Stage { name: "Lite", field: "lite", meaning: "meet the SWE-bench Lite criteria (`lite` split)" },
];

/// The 11 published columns: name, type, description.
const SCHEMA: [(&str, &str, &str); 11] = [
    ("instance_id", "string", "`owner__repo-PR`, unique"),
    ("repo", "string", "`owner/repo` on GitHub"),
    ("base_commit", "string", "commit the pull request was based on; check it out before applying patches"),
    ("patch", "string", "gold patch: the pull request's non-test changes (unified diff)"),
    ("test_patch", "string", "the pull request's test changes (unified diff)"),
    ("problem_statement", "string", "title and body of the linked issue(s)"),
    ("hints_text", "string", "issue comments made before the pull request's first commit"),
    ("created_at", "string", "creation time of the pull request (ISO 8601, UTC)"),
    ("version", "string", "package version (`MAJOR.MINOR`) at `base_commit`"),
    ("FAIL_TO_PASS", "list of string", "pytest node IDs that fail before and pass after the gold patch"),
    ("PASS_TO_PASS", "list of string", "pytest node IDs that pass both before and after"),
];

/// One funnel stage.
#[derive(Debug, Clone, Copy, Serialize)]
struct Stage {
    name: &'static str,
    /// The [`RepoFunnel`] field it counts.
    field: &'static str,
    meaning: &'static str,
}

/// One published column.
#[derive(Debug, Clone, Copy, Serialize)]
struct Column {
    name: &'static str,
    #[serde(rename = "type")]
    ty: &'static str,
    description: &'static str,
}

/// A Hugging Face config: one format's files.
#[derive(Debug, Clone, Serialize)]
struct Config<'a> {
    /// `default` for the preferred format, else the format.
    name: &'a str,
    files: Vec<&'a CardFile>,
}

/// What the card template sees.
#[derive(Debug, Clone, Serialize)]
struct CardContext<'a> {
    title: &'a str,
    tool_version: &'a str,
    generated_at: &'a str,
    size_category: &'static str,
    /// Preferred format first; empty when nothing was exported.
    configs: Vec<Config<'a>>,
    columns: Vec<Column>,
    files: &'a [CardFile],
    chart_file: &'a str,
    /// By curated count, then Lite count (both descending), then name.
    repos: Vec<&'a RepoFunnel>,
    total: RepoFunnel,
    stages: [Stage; 8],
    /// Non-zero reasons by count (descending), then name; and their sum.
    failures: Vec<&'a (String, u64)>,
    failed: u64,
    min_problem_words: usize,
    max_patch_hunks: usize,
    /// The `datasets` builder for the preferred format (`parquet`, `json`, …).
    builder: &'a str,
    /// (split, file) of the preferred format, in order of first appearance.
    data_files: Vec<(&'a str, &'a str)>,
    /// The first split, for the usage example.
    first_split: &'a str,
}

impl<'a> CardContext<'a> {
    fn new(input: &'a CardInput) -> Self {
        let formats = formats(&input.files);
        let configs: Vec<Config<'a>> = formats
            .iter()
            .enumerate()
            .map(|(i, &format)| Config {
                name: if i == 0 { "default" } else { format },
                files: input.files.iter().filter(|f| f.format == format).collect(),
            })
            .collect();
        let format = formats.first().copied().unwrap_or("parquet");
        let splits = splits(&input.files);
        let data_files = splits
            .iter()
            .filter_map(|&s| {
                input.files.iter().find(|f| f.split == s && f.format == format).map(|f| (s, f.file_name.as_str()))
            })
            .collect();
        let mut failures: Vec<&(String, u64)> = input.failures.iter().filter(|f| f.1 > 0).collect();
        failures.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        CardContext {
            title: &input.title,
            tool_version: &input.tool_version,
            generated_at: &input.generated_at,
            size_category: size_category(input.files.iter().map(|f| f.rows).max().unwrap_or(0)),
            configs,
            columns: SCHEMA.iter().map(|&(name, ty, description)| Column { name, ty, description }).collect(),
            files: &input.files,
            chart_file: &input.chart_file,
            repos: sorted(&input.repos),
            total: RepoFunnel::total(&input.repos),
            stages: STAGES,
            failed: failures.iter().map(|f| f.1).sum(),
            failures,
            min_problem_words: MIN_PROBLEM_WORDS,
            max_patch_hunks: MAX_PATCH_HUNKS,
            builder: if format == "jsonl" { "json" } else { format },
            data_files,
            first_split: splits.first().copied().unwrap_or("full"),
        }
    }
}

/// Repositories by curated count (descending), then Lite count (descending), then name.
fn sorted(repos: &[RepoFunnel]) -> Vec<&RepoFunnel> {
    let mut v: Vec<&RepoFunnel> = repos.iter().collect();
    v.sort_by(|a, b| b.curated.cmp(&a.curated).then(b.lite.cmp(&a.lite)).then(a.repo.cmp(&b.repo)));
    v
}

/// `1234567` → `1,234,567`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `part / whole` as a percentage with one decimal, or `–` when `whole` is 0.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_string()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// A Markdown table cell: no line breaks, pipes escaped.
fn cell(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// A YAML scalar: JSON strings are valid YAML double-quoted scalars.
fn yaml(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// Hugging Face's size bucket for a row count.
fn size_category(rows: u64) -> &'static str {
    match rows {
        0..=999 => "n<1K",
        1_000..=9_999 => "1K<n<10K",
        10_000..=99_999 => "10K<n<100K",
        100_000..=999_999 => "100K<n<1M",
        _ => "1M<n<10M",
    }
}

/// Formats present, preferred first (Parquet, then JSONL, then the rest by name).
fn formats(files: &[CardFile]) -> Vec<&str> {
    let rank = |f: &str| match f {
        "parquet" => 0,
        "jsonl" => 1,
        _ => 2,
    };
    let mut v: Vec<&str> = files.iter().map(|f| f.format.as_str()).collect();
    v.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    v.dedup();
    v
}

/// Split names in order of first appearance.
fn splits(files: &[CardFile]) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for f in files {
        if !v.contains(&f.split.as_str()) {
            v.push(&f.split);
        }
    }
    v
}

/// The template environment: Markdown (no auto-escaping), strict about undefined values, block
/// tags on lines of their own leave no trace.
fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    env.add_filter("count", count);
    env.add_filter("percent", percent);
    env.add_filter("cell", cell);
    env.add_filter("yaml", yaml);
    env.add_template("card.md", include_str!("card.md.j2"))?;
    Ok(env)
}

/// Markdown (Hugging Face dataset-card style): YAML front matter with configs and splits, then the
/// summary, files, counts per repository and split, the pipeline funnel with totals, failure
/// reasons, the chart, the schema of the 11 columns and how to load the data with `datasets`.
pub fn render_card(input: &CardInput) -> Result<String, minijinja::Error> {
    environment()?.get_template("card.md")?.render(Serde(CardContext::new(input)))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// SWE-Gym's published per-repository counts (full / lite), MISSION.md.
    pub(super) const SWE_GYM: [(&str, u64, u64); 11] = [
        ("pandas-dev/pandas", 737, 5),
        ("Project-MONAI/MONAI", 374, 27),
        ("getmoto/moto", 343, 59),
        ("python/mypy", 257, 40),
        ("iterative/dvc", 225, 36),
        ("dask/dask", 145, 14),
        ("modin-project/modin", 107, 5),
        ("pydantic/pydantic", 83, 20),
        ("conan-io/conan", 75, 12),
        ("facebookresearch/hydra", 66, 11),
        ("bokeh/bokeh", 26, 1),
    ];

    /// Realistic funnels: earlier stages shrink roughly as in SWE-Gym (66,894 raw from ~358 repos).
    pub(super) fn repos() -> Vec<RepoFunnel> {
        // Listed in an order different from the sorted one, to exercise sorting.
        let mut v: Vec<RepoFunnel> = SWE_GYM
            .iter()
            .rev()
            .map(|&(repo, curated, lite)| RepoFunnel {
                repo: repo.to_string(),
                pulls: curated * 40,
                linked: curated * 9,
                with_tests: curated * 6,
                pinned: curated * 5,
                built: curated * 4,
                validated: curated * 3,
                curated,
                lite,
            })
            .collect();
        v.swap(0, 5);
        v
    }

    fn input() -> CardInput {
        CardInput {
            title: "SWE-Gym rebuilt: 11 repos".to_string(),
            tool_version: "0.1.0".to_string(),
            generated_at: "2025-01-31T12:00:00Z".to_string(),
            repos: repos(),
            files: vec![
                CardFile {
                    split: "full".into(),
                    format: "parquet".into(),
                    file_name: "full.parquet".into(),
                    rows: 2438,
                },
                CardFile {
                    split: "lite".into(),
                    format: "parquet".into(),
                    file_name: "lite.parquet".into(),
                    rows: 230,
                },
                CardFile { split: "full".into(), format: "jsonl".into(), file_name: "full.jsonl".into(), rows: 2438 },
                CardFile { split: "lite".into(), format: "jsonl".into(), file_name: "lite.jsonl".into(), rows: 230 },
            ],
            failures: vec![
                ("no_fail_to_pass".into(), 3120),
                ("build_failed".into(), 845),
                ("patch_file_count".into(), 1490),
                ("unused".into(), 0),
            ],
            chart_file: "repos.svg".to_string(),
        }
    }

    #[test]
    fn chart_and_card_are_deterministic() {
        let a = input();
        let mut b = input();
        assert_eq!(repo_chart_svg(&a.repos), repo_chart_svg(&b.repos));
        assert_eq!(render_card(&a).unwrap(), render_card(&b).unwrap());
        // Input order does not matter either.
        b.repos.reverse();
        b.failures.reverse();
        assert_eq!(repo_chart_svg(&a.repos), repo_chart_svg(&b.repos));
        assert_eq!(render_card(&a).unwrap(), render_card(&b).unwrap());
    }

    #[test]
    fn card_has_front_matter_with_configs_and_splits() {
        let card = render_card(&input()).unwrap();
        assert!(card.starts_with("---\npretty_name: \"SWE-Gym rebuilt: 11 repos\"\n"));
        let end = card[4..].find("\n---\n").expect("front matter closed") + 4;
        let yaml = &card[..end + 1];
        assert!(yaml.contains(
            "configs:\n- config_name: \"default\"\n  data_files:\n  - split: \"full\"\n    path: \"full.parquet\"\n  - split: \"lite\"\n    path: \"lite.parquet\"\n- config_name: \"jsonl\"\n"
        ), "{yaml}");
        assert!(
            yaml.contains(
                "  splits:\n  - name: \"full\"\n    num_examples: 2438\n  - name: \"lite\"\n    num_examples: 230\n"
            ),
            "{yaml}"
        );
        assert!(yaml.contains("  - name: FAIL_TO_PASS\n    sequence: string\n"));
        assert!(yaml.contains("size_categories:\n- 1K<n<10K\n"));
    }

    #[test]
    fn card_has_totals_and_per_repo_counts() {
        let card = render_card(&input()).unwrap();
        // Per repository and split.
        assert!(card.contains("| pandas-dev/pandas | 737 | 5 | 0.7% |"), "{card}");
        assert!(card.contains("| getmoto/moto | 343 | 59 | 17.2% |"));
        assert!(card.contains("| bokeh/bokeh | 26 | 1 | 3.8% |"));
        assert!(card.contains("| **Total** | **2,438** | **230** | **9.4%** |"));
        // Funnel with totals: 2,438 × (40, 9, 6, 5, 4, 3, 1) and 230 Lite.
        assert!(card.contains(
            "| **Total** | **97,520** | **21,942** | **14,628** | **12,190** | **9,752** | **7,314** | **2,438** | **230** |"
        ), "{card}");
        assert!(card.contains("| pandas-dev/pandas | 29,480 | 6,633 | 4,422 | 3,685 | 2,948 | 2,211 | 737 | 5 |"));
        assert!(card.contains("| curated | at least one FAIL_TO_PASS test (`full` split) | 2,438 | 33.3% | 2.5% |"));
        // Failure reasons: by count, zero counts dropped.
        let a = card.find("`no_fail_to_pass` | 3,120").unwrap();
        let b = card.find("`patch_file_count` | 1,490").unwrap();
        let c = card.find("`build_failed` | 845").unwrap();
        assert!(a < b && b < c);
        assert!(!card.contains("`unused`"));
        // Chart, files, schema, usage.
        assert!(card.contains("](repos.svg)"));
        assert!(card.contains("| full | parquet | [full.parquet](full.parquet) | 2,438 |"));
        for (name, _, _) in SCHEMA {
            assert!(card.contains(&format!("| `{name}` |")), "{name}");
        }
        assert!(card.contains("from datasets import load_dataset"));
        assert!(card.contains(
            "ds = load_dataset(\"parquet\", data_files={\"full\": \"full.parquet\", \"lite\": \"lite.parquet\"})"
        ));
    }

    #[test]
    fn card_renders_empty_input() {
        let card = render_card(&CardInput {
            title: "Empty | run".into(),
            tool_version: "0.1.0".into(),
            generated_at: "2025-01-31T12:00:00Z".into(),
            repos: vec![],
            files: vec![],
            failures: vec![],
            chart_file: "repos.svg".into(),
        })
        .unwrap();
        assert!(card.contains("| **Total** | **0** | **0** | **–** |"));
        assert!(card.contains("No files were exported."));
        assert!(card.contains("No failures were recorded."));
        assert!(!card.contains("configs:"));
    }
}
