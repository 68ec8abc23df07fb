//! What an instance layer carries from git, per instance of a dataset: the files that differ
//! between the version's environment commit and `base_commit`, plus the pack of objects the
//! environment's repository lacks ([`Mirror::repository_over`]), with shallow and full history.
//! No Docker: the layer's own reinstall output (~0.1 MB in docs/FIDELITY.md) is not included.
//!
//! Run: `cargo bench --profile dev --bench layers -- --git-url 'file:///path/{owner}+{name}.git'`
//! (add `--jsonl FILE`; default: the 29 SWE-Gym rows in `../shared/data/reference/`). The mirrors
//! must hold every row's `base_commit` (docs/FIDELITY.md says how such mirrors were made). As in
//! `pin`, a version's environment commit is the `base_commit` of its latest-created instance;
//! rows are grouped by their published `version`.
//! Target (issue 10): median ≤ 10 MiB per instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use swegym_build::git::{History, Mirrors};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// (median, p90, max) of `xs`.
fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
    (median, xs[((n - 1) as f64 * 0.9).round() as usize], xs[n - 1])
}

fn main() {
    let jsonl = arg("--jsonl").unwrap_or_else(|| "../shared/data/reference/swegym_sample.jsonl".into());
    let Some(url) = arg("--git-url").or_else(|| std::env::var("SWEGYM_GIT_URL").ok()) else {
        eprintln!("layers bench: pass --git-url TEMPLATE (or set SWEGYM_GIT_URL) naming mirrors that hold the rows");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&jsonl).unwrap_or_else(|e| {
        eprintln!("layers bench: {jsonl}: {e}");
        std::process::exit(2);
    });
    let rows: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let field = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    let mut groups: BTreeMap<(String, String), Vec<&serde_json::Value>> = BTreeMap::new();
    for r in &rows {
        groups.entry((field(r, "repo"), field(r, "version"))).or_default().push(r);
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mirrors = Mirrors::new(tmp.path().join("mirrors"), url);
    for history in [History::Shallow, History::Full] {
        println!("\n{history:?} history: instance | files that differ | objects added (pack) | files kept | ms");
        let (mut sizes, mut times) = (Vec::new(), Vec::new());
        for ((repo, _), members) in &groups {
            let mirror = match repo
                .parse()
                .map_err(|e| format!("{e}"))
                .and_then(|r| mirrors.open(&r).map_err(|e| e.to_string()))
            {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("{repo}: {e}");
                    continue;
                }
            };
            let Some(env) = members.iter().max_by_key(|r| (field(r, "created_at"), field(r, "instance_id"))) else {
                continue;
            };
            let env = field(env, "base_commit");
            for r in members {
                let (id, base) = (field(r, "instance_id"), field(r, "base_commit"));
                let t = Instant::now();
                let dest = tmp.path().join(format!("{id}-{history:?}"));
                let delta = mirror.tree_delta(&env, &base).expect("tree delta");
                let layer = mirror.repository_over(&env, &base, &dest, history).expect("repository layer");
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                let pack = dir_bytes(&dest.join(".git/objects/pack"));
                let bytes = (delta.bytes() + pack) as f64 / 1e6;
                println!(
                    "{id} | {:.2} MB | {} ({:.2} MB) | {} | {ms:.0}",
                    delta.bytes() as f64 / 1e6,
                    layer.added,
                    pack as f64 / 1e6,
                    layer.keep.len()
                );
                sizes.push(bytes);
                times.push(ms);
                let _ = std::fs::remove_dir_all(&dest);
            }
        }
        let (m, p, x) = spread(sizes);
        let (tm, tp, tx) = spread(times);
        println!("{history:?}: MB from git per instance median {m:.2}, p90 {p:.2}, max {x:.2}; ms median {tm:.0}, p90 {tp:.0}, max {tx:.0}");
    }
}
