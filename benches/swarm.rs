//! `--executor swarm`: scheduling overhead per task (submit → running → result) and the throughput
//! of validation runs with one and with two workers, on the test cluster of `.ci/swarm up` (a
//! manager and two Docker-in-Docker workers, Debian's registry on 127.0.0.1:5000). The same runs on
//! the local engine are the baseline.
//!
//! Run: `cargo bench --profile dev --bench swarm [-- --tasks N --runs N --jobs N --image TAG]`.
//! Needs root (the cluster script), the Docker Engine and a fixture instance image
//! (`swegym/eval.acme__*`, which `cargo test` builds) — it is pushed to the cluster's registry.

use std::path::Path;
use std::time::Instant;

use swegym_build::cancel::Cancel;
use swegym_build::context::Context;
use swegym_build::docker::{Engine, RunOutput, RunSpec};
use swegym_build::executor::{Executor, Registry, RunJob, Swarm, SwarmConfig};
use swegym_build::image::BuildOptions;
use swegym_build::progress::Progress;
use swegym_build::recipe::RecipeBook;
use swegym_build::store::{Access, Store};
use swegym_build::validate::script::{out, plan, Phase, DIR};
use swegym_build::workspace::Workspace;

mod common;
use common::arg;

const TEST_PATCH: &str = "diff --git a/tests/test_bench.py b/tests/test_bench.py
new file mode 100644
--- /dev/null
+++ b/tests/test_bench.py
@@ -0,0 +1,4 @@
+import time
+
+def test_two_seconds():
+    time.sleep(2)
";

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `.ci/swarm up`: (manager, registry).
fn cluster() -> (String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/swarm");
    let o = std::process::Command::new("bash").arg(script).arg("up").output().expect("bash .ci/swarm up");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.status.success() {
        eprintln!("swarm bench: .ci/swarm up failed:\n{text}\n{}", String::from_utf8_lossy(&o.stderr));
        std::process::exit(1);
    }
    let var = |k: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("export "))
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(|v| v.trim_matches(['"', '\'']).to_string()))
            .unwrap_or_else(|| panic!("{k} from .ci/swarm up"))
    };
    (var("SWEGYM_SWARM_HOST"), var("SWEGYM_SWARM_REGISTRY"))
}

/// One validation run of the fixture's image (a two-second test).
fn validation_run(image: &str, run: usize) -> RunSpec {
    let (spec, selection) = common::pytest_on_bench_file();
    let p = plan(&spec, &selection, TEST_PATCH, "", Phase::Before, run as u32);
    let mut rs = RunSpec::new(image, &p.script);
    rs.files = p.files;
    rs.collect = p.collect;
    rs.memory_bytes = 1 << 30;
    rs.nano_cpus = 1_000_000_000;
    rs
}

fn check(o: &RunOutput) {
    let results = o.files.iter().any(|(p, b)| p == &format!("{DIR}/{}", out::RESULTS) && !b.is_empty());
    assert!(results, "the plugin wrote no results: {}", o.output);
}

/// `runs` validation runs, `jobs` at a time; runs per minute.
async fn throughput(executor: &Executor, image: &str, runs: usize, jobs: usize) -> f64 {
    use futures_util::StreamExt;
    let cancel = Cancel::new();
    let t = Instant::now();
    let outs: Vec<RunOutput> = futures_util::stream::iter((1..=runs).map(|i| {
        let (executor, cancel) = (executor.clone(), cancel.clone());
        let job = RunJob { spec: validation_run(image, i), what: format!("bench run {i}") };
        async move { executor.execute(job, &cancel).await.expect("run") }
    }))
    .buffer_unordered(jobs)
    .collect()
    .await;
    outs.iter().for_each(check);
    runs as f64 / t.elapsed().as_secs_f64() * 60.0
}

/// Seconds of each of `n` no-op runs (`true` in `image`), one after another.
async fn noop_times(executor: &Executor, image: &str, n: usize) -> Vec<f64> {
    let cancel = Cancel::new();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let job = RunJob { spec: RunSpec::new(image, "true"), what: format!("noop {i}") };
        executor.execute(job, &cancel).await.expect("a no-op run");
        times.push(t.elapsed().as_secs_f64());
    }
    times
}

#[tokio::main]
async fn main() {
    let tasks: usize = arg("--tasks").and_then(|r| r.parse().ok()).unwrap_or(10);
    let runs: usize = arg("--runs").and_then(|r| r.parse().ok()).unwrap_or(16);
    let jobs: usize = arg("--jobs").and_then(|r| r.parse().ok()).unwrap_or(4);
    let local = Engine::connect().await.expect("the local Docker Engine");
    let image = common::fixture_image(&local, "swarm").await;
    let (host, registry) = cluster();
    let registry: Registry = registry.parse().expect("registry");
    // The fixture image goes to the registry from this engine (it allows plain HTTP to 127/8).
    let name = registry.name(&image);
    let (repo, tag) = swegym_build::docker::swarm::split_tag(&name);
    local.tag(&image, repo, tag).await.expect("tag");
    local.push(&name, None).await.expect("push the fixture image");

    // The local baseline, before DOCKER_HOST points at the manager.
    let local_exec = Executor::Local(local.clone());
    let mut local_times = noop_times(&local_exec, &image, tasks).await;
    let local_rate = throughput(&local_exec, &image, runs, jobs).await;

    std::env::set_var("DOCKER_HOST", &host);
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = Workspace::new(dir.path());
    ws.create_dirs().expect("workspace");
    let store = Store::open(&ws, Access::ReadWrite).expect("store");
    let mut cx =
        Context::new(ws, store, "file:///nonexistent", RecipeBook::load(None).unwrap(), Progress::new(false, true));
    let opts = BuildOptions::defaults().expect("build defaults");
    let binary = Path::new(env!("CARGO_BIN_EXE_swegym-build"));
    let worker_image = swegym_build::image::worker::ensure_worker_image(&mut cx, &opts, &registry, None, binary)
        .await
        .expect("worker image");
    let trace = dir.path().join("trace.jsonl");
    std::env::set_var("SWEGYM_TRACE_TASKS", &trace);
    let config = |constraints: Vec<String>| SwarmConfig {
        registry: registry.clone(),
        worker_image: worker_image.clone(),
        placement_timeout: std::time::Duration::from_secs(120),
        max_attempts: 1,
        constraints,
        login: None,
    };
    let label = ("swegym.workspace".to_string(), "bench".to_string());
    let both =
        Executor::Swarm(std::sync::Arc::new(Swarm::connect(config(vec![]), label.clone()).await.expect("swarm")));
    // Warm up: every worker pulls the worker and fixture images once.
    noop_times(&both, &image, 4).await;
    let _ = std::fs::remove_file(&trace);
    let mut swarm_times = noop_times(&both, &image, tasks).await;
    let traced: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut to_running: Vec<f64> = traced.iter().filter_map(|t| t["to_running"].as_f64()).collect();
    let mut to_result: Vec<f64> = traced.iter().filter_map(|t| t["to_result"].as_f64()).collect();

    let one = Executor::Swarm(std::sync::Arc::new(
        Swarm::connect(config(vec!["node.hostname==swegym-ci-worker-1".into()]), label).await.expect("swarm"),
    ));
    let rate_one = throughput(&one, &image, runs, jobs).await;
    let rate_two = throughput(&both, &image, runs, jobs).await;

    let (l, s) = (median(&mut local_times), median(&mut swarm_times));
    println!("image: {image}; cluster: {host}, registry {registry}");
    println!(
        "a no-op task, {tasks} in a row: local run median {l:.2} s; swarm task median {s:.2} s (submit → running median {:.2} s, submit → result median {:.2} s); overhead per task {:.2} s ({:.1}x the local run)",
        median(&mut to_running),
        median(&mut to_result),
        s - l,
        s / l
    );
    println!(
        "validation runs (a 2-second test), {runs} runs, {jobs} at a time: local {local_rate:.1}/min; swarm with 1 worker {rate_one:.1}/min, with 2 workers {rate_two:.1}/min ({:.2}x of 1 worker)",
        rate_two / rate_one
    );
    one.shutdown().await;
    both.shutdown().await;
}
