//! The dataset card (`README.md`, Hugging Face dataset-card style) and its per-repository chart,
//! written beside the exported files. Both are pure functions of their input: the same input gives
//! byte-identical output.

use std::fmt::Write as _;

use serde::Serialize;

use crate::lite::{MAX_PATCH_HUNKS, MIN_PROBLEM_WORDS};

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

/// The funnel stages in pipeline order: column header and accessor.
const STAGES: [(&str, fn(&RepoFunnel) -> u64); 8] = [
    ("PRs", |r| r.pulls),
    ("linked", |r| r.linked),
    ("with tests", |r| r.with_tests),
    ("pinned", |r| r.pinned),
    ("env built", |r| r.built),
    ("validated", |r| r.validated),
    ("curated", |r| r.curated),
    ("Lite", |r| r.lite),
];

/// What each stage means, for the funnel's stage table.
const STAGE_MEANING: [&str; 8] = [
    "merged pull requests listed",
    "resolve at least one linked issue",
    "change tests (non-empty `test_patch`)",
    "version and environment commit determined",
    "environment image built and checked",
    "run before and after the gold patch",
    "at least one FAIL_TO_PASS test (`full` split)",
    "meet the SWE-bench Lite criteria (`lite` split)",
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
        if i > 0 && (digits.len() - i) % 3 == 0 {
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

fn front_matter(input: &CardInput, out: &mut String) {
    let max_rows = input.files.iter().map(|f| f.rows).max().unwrap_or(0);
    let _ = writeln!(out, "---");
    let _ = writeln!(out, "pretty_name: {}", yaml(&input.title));
    out.push_str("language:\n- en\ntags:\n- code\n- software-engineering\n- swe-gym\n- swe-bench\n");
    let _ = writeln!(out, "size_categories:\n- {}", size_category(max_rows));
    let formats = formats(&input.files);
    if !formats.is_empty() {
        out.push_str("configs:\n");
        for (i, format) in formats.iter().enumerate() {
            let name = if i == 0 { "default" } else { format };
            let _ = writeln!(out, "- config_name: {}", yaml(name));
            out.push_str("  data_files:\n");
            for f in input.files.iter().filter(|f| f.format == *format) {
                let _ = writeln!(out, "  - split: {}", yaml(&f.split));
                let _ = writeln!(out, "    path: {}", yaml(&f.file_name));
            }
        }
    }
    out.push_str("dataset_info:\n  config_name: default\n  features:\n");
    for (name, ty, _) in SCHEMA {
        let _ = writeln!(out, "  - name: {name}");
        if ty == "string" {
            out.push_str("    dtype: string\n");
        } else {
            out.push_str("    sequence: string\n");
        }
    }
    if let Some(format) = formats.first() {
        out.push_str("  splits:\n");
        for f in input.files.iter().filter(|f| f.format == *format) {
            let _ = writeln!(out, "  - name: {}", yaml(&f.split));
            let _ = writeln!(out, "    num_examples: {}", f.rows);
        }
    }
    out.push_str("---\n\n");
}

/// Markdown (Hugging Face dataset-card style): YAML front matter with configs and splits, then the
/// summary, files, counts per repository and split, the pipeline funnel with totals, failure
/// reasons, the chart, the schema of the 11 columns and how to load the data with `datasets`.
pub fn render_card(input: &CardInput) -> String {
    let mut out = String::new();
    front_matter(input, &mut out);
    let repos = sorted(&input.repos);
    let total = RepoFunnel::total(&input.repos);
    let title = cell(&input.title);

    // Summary.
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(
        out,
        "Executable software-engineering tasks in the style of SWE-Gym: each instance pairs a real \
         GitHub issue with the repository at the commit where it was open, the gold patch that \
         resolved it, and the tests that fail before the fix and pass after it (`FAIL_TO_PASS`) or \
         pass both times (`PASS_TO_PASS`).\n"
    );
    let _ = writeln!(
        out,
        "- **{}** validated instances (split `full`) from **{}** repositories.",
        count(total.curated),
        count(repos.len() as u64)
    );
    let _ = writeln!(out, "- **{}** of them meet the SWE-bench Lite criteria (split `lite`).", count(total.lite));
    let _ = writeln!(
        out,
        "- Mined from **{}** merged pull requests ({} of them became instances).",
        count(total.pulls),
        percent(total.curated, total.pulls)
    );
    let _ =
        writeln!(out, "- Built with `swegym-build` {} on {}.\n", cell(&input.tool_version), cell(&input.generated_at));

    // Files.
    out.push_str("## Files\n\n");
    if input.files.is_empty() {
        out.push_str("No files were exported.\n\n");
    } else {
        out.push_str("| Split | Format | File | Rows |\n| --- | --- | --- | ---: |\n");
        for f in &input.files {
            let _ = writeln!(
                out,
                "| {} | {} | [{}]({}) | {} |",
                cell(&f.split),
                cell(&f.format),
                cell(&f.file_name),
                cell(&f.file_name).replace(' ', "%20"),
                count(f.rows)
            );
        }
        out.push('\n');
    }

    // Per repository and split.
    out.push_str("## Instances per repository\n\n");
    let _ = writeln!(
        out,
        "![Instances per repository in the full and Lite splits]({})\n",
        input.chart_file.replace(' ', "%20")
    );
    out.push_str("| Repository | full | lite | lite share |\n| --- | ---: | ---: | ---: |\n");
    for r in &repos {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&r.repo),
            count(r.curated),
            count(r.lite),
            percent(r.lite, r.curated)
        );
    }
    let _ = writeln!(
        out,
        "| **Total** | **{}** | **{}** | **{}** |\n",
        count(total.curated),
        count(total.lite),
        percent(total.lite, total.curated)
    );

    // Funnel.
    out.push_str("## Funnel\n\n");
    out.push_str(
        "How many candidates survived each stage: PRs → linked to an issue → with tests → pinned → \
         environment built → validated → curated → Lite.\n\n",
    );
    out.push_str("| Repository |");
    for (name, _) in STAGES {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n| --- |");
    for _ in STAGES {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for r in &repos {
        let _ = write!(out, "| {} |", cell(&r.repo));
        for (_, get) in STAGES {
            let _ = write!(out, " {} |", count(get(r)));
        }
        out.push('\n');
    }
    out.push_str("| **Total** |");
    for (_, get) in STAGES {
        let _ = write!(out, " **{}** |", count(get(&total)));
    }
    out.push_str("\n\n");
    out.push_str("| Stage | Meaning | Instances | Kept from previous stage | Kept from PRs |\n");
    out.push_str("| --- | --- | ---: | ---: | ---: |\n");
    let mut previous: Option<u64> = None;
    for ((name, get), meaning) in STAGES.iter().zip(STAGE_MEANING) {
        let n = get(&total);
        let _ = writeln!(
            out,
            "| {name} | {meaning} | {} | {} | {} |",
            count(n),
            previous.map_or_else(|| "–".to_string(), |p| percent(n, p)),
            percent(n, total.pulls)
        );
        previous = Some(n);
    }
    out.push('\n');

    // Failure reasons.
    out.push_str("## Failure reasons\n\n");
    let mut failures: Vec<&(String, u64)> = input.failures.iter().filter(|f| f.1 > 0).collect();
    failures.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if failures.is_empty() {
        out.push_str("No failures were recorded.\n\n");
    } else {
        let failed: u64 = failures.iter().map(|f| f.1).sum();
        out.push_str("Why candidates were dropped (one candidate may count under several reasons).\n\n");
        out.push_str("| Reason | Count | Share |\n| --- | ---: | ---: |\n");
        for (reason, n) in failures {
            let _ = writeln!(out, "| `{}` | {} | {} |", cell(reason).replace('`', "'"), count(*n), percent(*n, failed));
        }
        out.push('\n');
    }

    // Lite.
    out.push_str("## Lite criteria\n\n");
    out.push_str("The `lite` split keeps the `full` instances that meet SWE-bench Lite's criteria:\n\n");
    let _ = writeln!(
        out,
        "- the problem statement has at least {MIN_PROBLEM_WORDS} words and no URLs, issue or pull \
         request references, 40-hex commit SHAs or images;"
    );
    let _ = writeln!(
        out,
        "- the gold patch edits exactly one existing file in 1 to {MAX_PATCH_HUNKS} hunks (no added, \
         deleted or renamed files);"
    );
    out.push_str(
        "- the test patch does not check error messages (`pytest.raises(..., match=...)`, \
         `assertRaisesRegex`, …).\n\n",
    );

    // Schema.
    out.push_str("## Schema\n\n| Column | Type | Description |\n| --- | --- | --- |\n");
    for (name, ty, what) in SCHEMA {
        let _ = writeln!(out, "| `{name}` | {ty} | {what} |");
    }
    out.push('\n');

    // Usage.
    out.push_str("## Usage\n\n");
    let format = formats(&input.files).first().copied().unwrap_or("parquet");
    let builder = if format == "jsonl" { "json" } else { format };
    let data_files: Vec<String> = splits(&input.files)
        .into_iter()
        .filter_map(|s| {
            input
                .files
                .iter()
                .find(|f| f.split == s && f.format == format)
                .map(|f| format!("{}: {}", yaml(s), yaml(&f.file_name)))
        })
        .collect();
    out.push_str("```python\nfrom datasets import load_dataset\n\n");
    let _ = writeln!(out, "ds = load_dataset({}, data_files={{{}}})", yaml(builder), data_files.join(", "));
    let first = splits(&input.files).first().copied().unwrap_or("full");
    let _ = writeln!(out, "task = ds[{}][0]", yaml(first));
    out.push_str("print(task[\"instance_id\"], task[\"FAIL_TO_PASS\"])\n```\n\n");
    out.push_str(
        "Once uploaded to the Hugging Face Hub, `load_dataset(\"<namespace>/<name>\", split=\"lite\")` \
         loads a split by name. The columns match SWE-Gym's, so tools that read SWE-Gym or \
         SWE-bench read these files unchanged.\n",
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Chart

const WIDTH: f64 = 800.0;
const ROW_HEIGHT: f64 = 36.0;
const BAR_HEIGHT: f64 = 12.0;
const TOP: f64 = 64.0;
const CHAR_WIDTH: f64 = 7.0;
const FULL_COLOUR: &str = "#4c72b0";
const LITE_COLOUR: &str = "#dd8452";
const MAX_LABEL_CHARS: usize = 36;

/// Escapes text and attribute values for XML.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A tick step from 1, 2, 5 × 10^k giving at most 5 intervals up to `max` (≥ 1).
fn tick_step(max: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if max.div_ceil(step) <= 5 {
                return step;
            }
        }
        magnitude *= 10;
    }
}

fn svg_open(out: &mut String, height: f64, label: &str) {
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {height:.0}\" role=\"img\" aria-label=\"{}\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">",
        xml(label)
    );
    let _ = writeln!(out, "<title>{}</title>", xml(label));
    let _ = writeln!(out, "<rect x=\"0\" y=\"0\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        out,
        "<text x=\"16\" y=\"26\" font-size=\"16\" font-weight=\"bold\" fill=\"#222222\">Instances per repository</text>"
    );
}

/// A self-contained SVG horizontal bar chart: one row per repository, sorted by curated count
/// (descending), with a `full` (curated) and a `lite` bar side by side, the numbers at the bar ends,
/// a legend and an axis with ticks. An empty input (or one without instances) renders a valid
/// chart saying "no instances".
pub fn repo_chart_svg(repos: &[RepoFunnel]) -> String {
    let mut out = String::new();
    let repos = sorted(repos);
    let max = repos.iter().map(|r| r.curated.max(r.lite)).max().unwrap_or(0);
    if max == 0 {
        let height = 120.0;
        svg_open(&mut out, height, "Instances per repository: no instances");
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"76\" text-anchor=\"middle\" font-size=\"14\" fill=\"#666666\">no instances</text>",
            WIDTH / 2.0
        );
        out.push_str("</svg>\n");
        return out;
    }

    let label_chars = repos.iter().map(|r| r.repo.chars().count().min(MAX_LABEL_CHARS)).max().unwrap_or(0);
    let x0 = (label_chars as f64 * CHAR_WIDTH + 24.0).clamp(110.0, 280.0);
    let x1 = WIDTH - 64.0;
    let plot = x1 - x0;
    let step = tick_step(max);
    let axis_max = max.div_ceil(step) * step;
    let axis_y = TOP + repos.len() as f64 * ROW_HEIGHT + 4.0;
    let height = axis_y + 44.0;
    let x_of = |v: u64| x0 + plot * v as f64 / axis_max as f64;

    let total_full: u64 = repos.iter().map(|r| r.curated).sum();
    let total_lite: u64 = repos.iter().map(|r| r.lite).sum();
    svg_open(
        &mut out,
        height,
        &format!("Instances per repository: {total_full} full and {total_lite} lite in {} repositories", repos.len()),
    );

    // Legend.
    let legend_x = WIDTH - 230.0;
    for (i, (colour, name)) in [(FULL_COLOUR, "full (curated)"), (LITE_COLOUR, "lite")].iter().enumerate() {
        let x = legend_x + i as f64 * 130.0;
        let _ = writeln!(
            out,
            "<rect x=\"{x:.1}\" y=\"16\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"26\" fill=\"#222222\">{name}</text>",
            x + 18.0
        );
    }

    // Grid lines and ticks.
    out.push_str("<g class=\"axis\" fill=\"#444444\" font-size=\"11\">\n");
    let mut v = 0;
    while v <= axis_max {
        let x = x_of(v);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{axis_y:.1}\" stroke=\"#e4e4e4\"/>\
             <line x1=\"{x:.1}\" y1=\"{axis_y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444444\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP - 6.0,
            axis_y + 5.0,
            axis_y + 18.0,
            count(v)
        );
        v += step;
    }
    let _ = writeln!(
        out,
        "<line x1=\"{x0:.1}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#444444\"/>",
        x_of(axis_max)
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">instances</text>",
        (x0 + x_of(axis_max)) / 2.0,
        axis_y + 36.0
    );
    out.push_str("</g>\n");

    // Rows.
    for (i, r) in repos.iter().enumerate() {
        let y = TOP + i as f64 * ROW_HEIGHT;
        let name: String = if r.repo.chars().count() > MAX_LABEL_CHARS {
            let mut s: String = r.repo.chars().take(MAX_LABEL_CHARS - 1).collect();
            s.push('…');
            s
        } else {
            r.repo.clone()
        };
        let _ = writeln!(out, "<g class=\"repo\">");
        let _ = writeln!(out, "<title>{}: {} full, {} lite</title>", xml(&r.repo), r.curated, r.lite);
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#222222\">{}</text>",
            x0 - 8.0,
            y + ROW_HEIGHT / 2.0 + 4.0,
            xml(&name)
        );
        for (j, (class, colour, value)) in
            [("full", FULL_COLOUR, r.curated), ("lite", LITE_COLOUR, r.lite)].into_iter().enumerate()
        {
            let bar_y = y + 5.0 + j as f64 * (BAR_HEIGHT + 2.0);
            let w = x_of(value) - x0;
            let _ = writeln!(
                out,
                "<rect class=\"bar {class}\" x=\"{x0:.1}\" y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"{BAR_HEIGHT:.0}\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#222222\">{}</text>",
                x0 + w + 4.0,
                bar_y + BAR_HEIGHT - 2.0,
                count(value)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SWE-Gym's published per-repository counts (full / lite), MISSION.md.
    const SWE_GYM: [(&str, u64, u64); 11] = [
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
    fn repos() -> Vec<RepoFunnel> {
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

    /// A small XML well-formedness check: one root, every tag closed in order, attributes quoted,
    /// no stray `<` or unescaped `&` in text. Returns the root element's name.
    fn check_xml(doc: &str) -> Result<String, String> {
        let mut stack: Vec<String> = Vec::new();
        let mut root: Option<String> = None;
        let mut rest = doc.trim();
        let entity_ok = |t: &str| {
            t.match_indices('&').all(|(i, _)| {
                let after = &t[i + 1..];
                ["amp;", "lt;", "gt;", "quot;", "apos;", "#"].iter().any(|e| after.starts_with(e))
            })
        };
        while !rest.is_empty() {
            let Some(lt) = rest.find('<') else {
                if !rest.trim().is_empty() {
                    return Err(format!("text after the root: {rest:?}"));
                }
                break;
            };
            let text = &rest[..lt];
            if !entity_ok(text) {
                return Err(format!("bad text {text:?}"));
            }
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            rest = &rest[lt..];
            if let Some(r) = rest.strip_prefix("<!--") {
                let end = r.find("-->").ok_or("unclosed comment")?;
                rest = &r[end + 3..];
                continue;
            }
            if let Some(r) = rest.strip_prefix("<?") {
                let end = r.find("?>").ok_or("unclosed declaration")?;
                rest = &r[end + 2..];
                continue;
            }
            // Find the tag's end, honouring quoted attribute values.
            let bytes = rest.as_bytes();
            let mut quote = None;
            let mut end = None;
            for (i, &b) in bytes.iter().enumerate().skip(1) {
                match quote {
                    Some(q) if b == q => quote = None,
                    Some(_) => {
                        if b == b'<' {
                            return Err("`<` inside an attribute".into());
                        }
                    }
                    None if b == b'"' || b == b'\'' => quote = Some(b),
                    None if b == b'<' => return Err(format!("`<` inside a tag: {}", &rest[..i])),
                    None if b == b'>' => {
                        end = Some(i);
                        break;
                    }
                    None => {}
                }
            }
            let end = end.ok_or_else(|| format!("unterminated tag: {}", &rest[..rest.len().min(40)]))?;
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or_else(|| format!("close without open: {name}"))?;
                if open != name.trim() {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':') {
                return Err(format!("bad tag name in <{tag}>"));
            }
            let attrs = &body[name.len()..];
            if !entity_ok(attrs) {
                return Err(format!("unescaped & in <{tag}>"));
            }
            // Every attribute is name="value".
            let attr_re = regex::Regex::new(r#"^(\s+[A-Za-z_:][-\w:.]*="[^"<]*")*\s*$"#).unwrap();
            if !attr_re.is_match(attrs) {
                return Err(format!("bad attributes in <{tag}>"));
            }
            if stack.is_empty() {
                if root.is_some() {
                    return Err("two root elements".into());
                }
                root = Some(name.clone());
            }
            if !self_closing {
                stack.push(name);
            }
        }
        if let Some(open) = stack.pop() {
            return Err(format!("<{open}> never closed"));
        }
        root.ok_or_else(|| "no root element".into())
    }

    /// `(class, width)` of every bar, in document order.
    fn bars(svg: &str) -> Vec<(String, f64)> {
        let re = regex::Regex::new(r#"<rect class="bar (\w+)" [^>]*width="([\d.]+)""#).unwrap();
        re.captures_iter(svg).map(|c| (c[1].to_string(), c[2].parse().unwrap())).collect()
    }

    #[test]
    fn chart_is_well_formed_svg() {
        let svg = repo_chart_svg(&repos());
        assert_eq!(check_xml(&svg), Ok("svg".to_string()), "{svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("width=\"800\""));
        assert!(svg.contains("full (curated)") && svg.contains(">lite<"), "legend");
        assert!(svg.contains(">737<") && svg.contains(">59<"), "numbers at bar ends");
        // Axis: 737 → steps of 200 up to 800.
        for tick in [">0<", ">200<", ">400<", ">600<", ">800<"] {
            assert!(svg.contains(tick), "tick {tick}");
        }
        // The checker itself rejects broken documents.
        assert!(check_xml("<svg><g></svg>").is_err());
        assert!(check_xml("<svg><text>a & b</text></svg>").is_err());
        assert!(check_xml("<svg><text>a</text></svg><svg/>").is_err());
    }

    #[test]
    fn chart_contains_every_repo_name_escaped() {
        let mut rs = repos();
        rs.push(RepoFunnel { repo: "evil/<script>&\"'".into(), curated: 3, lite: 1, ..Default::default() });
        let svg = repo_chart_svg(&rs);
        assert_eq!(check_xml(&svg), Ok("svg".to_string()));
        for (repo, _, _) in SWE_GYM {
            assert!(svg.contains(&format!(">{repo}<")), "{repo}");
        }
        assert!(svg.contains("evil/&lt;script&gt;&amp;&quot;&apos;"));
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn chart_rows_are_sorted_and_bars_proportional() {
        let svg = repo_chart_svg(&repos());
        // Rows in curated order.
        let positions: Vec<usize> =
            SWE_GYM.iter().map(|(repo, _, _)| svg.find(&format!(">{repo}<")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "sorted by curated, descending");

        let bars = bars(&svg);
        assert_eq!(bars.len(), 22, "a full and a lite bar per repository");
        let full: Vec<f64> = bars.iter().filter(|b| b.0 == "full").map(|b| b.1).collect();
        let lite: Vec<f64> = bars.iter().filter(|b| b.0 == "lite").map(|b| b.1).collect();
        let widest = bars.iter().map(|b| b.1).fold(0.0, f64::max);
        assert_eq!(full[0], widest, "pandas, the largest repository, has the widest bar");
        // Width / value is the same for every bar (to rounding).
        let scale = full[0] / 737.0;
        for (i, (_, curated, lite_n)) in SWE_GYM.iter().enumerate() {
            assert!((full[i] - *curated as f64 * scale).abs() <= 0.1, "{i}");
            assert!((lite[i] - *lite_n as f64 * scale).abs() <= 0.1, "{i}");
        }
    }

    #[test]
    fn chart_without_instances_says_so() {
        for repos in [vec![], vec![RepoFunnel { repo: "o/r".into(), pulls: 10, ..Default::default() }]] {
            let svg = repo_chart_svg(&repos);
            assert_eq!(check_xml(&svg), Ok("svg".to_string()), "{svg}");
            assert!(svg.contains(">no instances<"));
            assert!(bars(&svg).is_empty());
        }
    }

    #[test]
    fn chart_and_card_are_deterministic() {
        let a = input();
        let mut b = input();
        assert_eq!(repo_chart_svg(&a.repos), repo_chart_svg(&b.repos));
        assert_eq!(render_card(&a), render_card(&b));
        // Input order does not matter either.
        b.repos.reverse();
        b.failures.reverse();
        assert_eq!(repo_chart_svg(&a.repos), repo_chart_svg(&b.repos));
        assert_eq!(render_card(&a), render_card(&b));
    }

    #[test]
    fn card_has_front_matter_with_configs_and_splits() {
        let card = render_card(&input());
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
        let card = render_card(&input());
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
        });
        assert!(card.contains("| **Total** | **0** | **0** | **–** |"));
        assert!(card.contains("No files were exported."));
        assert!(card.contains("No failures were recorded."));
        assert!(!card.contains("configs:"));
    }
}
