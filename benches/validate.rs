//! Validation overhead per run: from creating the container to having its results, minus the time
//! pytest itself ran — what `validate` adds to every run (create, copy patches and plugin in,
//! start, `git apply`, copy results out, remove).
//!
//! Run: `cargo bench --profile dev --bench validate [-- --runs N --image TAG]`.
//! Needs the Docker Engine and an instance image: by default a `swegym/eval.acme__*`
//! image, which `cargo test` builds (the fixtures of tests/it/build.rs and tests/it/e2e.rs). The target is ≤ 1.5 s per run.

use std::time::Instant;

use swegym_build::cancel::Cancel;
use swegym_build::docker::{Engine, RunSpec};
use swegym_build::validate::script::{out, plan, Phase, DIR};

mod common;
use common::arg;

const TEST_PATCH: &str = "diff --git a/tests/test_bench.py b/tests/test_bench.py
new file mode 100644
--- /dev/null
+++ b/tests/test_bench.py
@@ -0,0 +1,2 @@
+def test_nothing():
+    pass
";

#[tokio::main]
async fn main() {
    let runs: usize = arg("--runs").and_then(|r| r.parse().ok()).unwrap_or(10);
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("validate bench: {e}");
            std::process::exit(1);
        }
    };
    let image = common::fixture_image(&engine, "validate").await;
    let (spec, selection) = common::pytest_on_bench_file();
    let cancel = Cancel::new();
    let mut overheads = Vec::new();
    let mut totals = Vec::new();
    for run in 1..=runs {
        let p = plan(&spec, &selection, TEST_PATCH, "", Phase::Before, run as u32);
        let mut rs = RunSpec::new(&image, &p.script);
        rs.files = p.files;
        rs.collect = p.collect;
        let t = Instant::now();
        let o = engine.run(&rs, &cancel).await.expect("run");
        let total = t.elapsed().as_secs_f64();
        let num = |name: &str| {
            o.files
                .iter()
                .find(|(p, _)| *p == format!("{DIR}/{name}"))
                .and_then(|(_, b)| String::from_utf8_lossy(b).trim().parse::<f64>().ok())
        };
        let pytest = match (num(out::T0), num(out::T1)) {
            (Some(a), Some(b)) => b - a,
            _ => panic!("no timings from the run: {}", o.output),
        };
        let results = o.files.iter().any(|(p, b)| p.ends_with(out::RESULTS) && !b.is_empty());
        assert!(results, "the plugin wrote no results: {}", o.output);
        overheads.push(total - pytest);
        totals.push(total);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut sorted = overheads.clone();
    sorted.sort_by(f64::total_cmp);
    println!("image: {image}");
    println!(
        "{runs} runs: overhead per run mean {:.2} s, median {:.2} s, max {:.2} s (run total mean {:.2} s; target ≤ 1.5 s)",
        mean(&overheads),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
        mean(&totals)
    );
}
