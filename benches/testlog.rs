//! Test-report parsing throughput: `pytest_log::parse_log` on a large `pytest -rA` log and
//! `plugin::parse_results` on the matching plugin results file, against SWE-bench's
//! `parse_log_pytest` (swebench 4.1.0, through `benches/peer/swebench_parse.py`) on the same log.
//!
//! Run: `cargo bench --profile dev --bench testlog` (add `-- --tests N --repeat R`; default
//! 200,000 tests and 5 repeats). Or on a real log: `-- --log FILE [--results FILE]`.
//! Peer setup (optional; without it only our numbers are printed):
//!     python3 -m venv /tmp/peer-venv
//!     /tmp/peer-venv/bin/pip install swebench==4.1.0 ghapi==1.0.6 fastcore==1.8.8
//!
//! The generated log is what pytest 8 prints for `-rA`: session header, progress lines, ERRORS and
//! FAILURES sections with tracebacks and captured output, PASSES section, the short test summary
//! (one line per test, skips folded by location: `SKIPPED [1] file:line: reason`) and the final
//! counts. IDs mix plain functions, class nesting and parametrized IDs with spaces, ` - `,
//! brackets and escapes. Both parsers' results are checked against the generated truth.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use swegym_build::testlog::plugin::parse_results;
use swegym_build::testlog::pytest_log::parse_log;
use swegym_build::testlog::{TestReport, TestStatus};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Test {
    id: String,
    status: TestStatus,
    path: String,
    name: String,
}

fn make_tests(n: usize) -> Vec<Test> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let m = i / 250;
            let path = format!("tests/pkg{}/test_mod{m}.py", m % 20);
            let k = i % 7;
            let name = match i % 10 {
                0 => format!("test_func_{i}"),
                1 => format!("TestClass{k}::test_method_{i}"),
                2 => format!("test_param_{k}[{i}-value with spaces]"),
                3 => format!("test_param_{k}[case {i} - dash]"),
                4 => format!("TestA::TestB::test_nested[{i}-x[1]]"),
                5 => format!("test_unicode_{k}[caf\\xe9-{i}]"),
                6 => format!("test_ünïcode_{i}"),
                7 => format!("test_pairs[{i}-None-  lead]"),
                _ => format!("test_case_{k}[{i}]"),
            };
            let status = match rng.below(100) {
                0..=84 => TestStatus::Passed,
                85..=90 => TestStatus::Failed,
                91..=92 => TestStatus::Error,
                93..=96 => TestStatus::Skipped,
                97..=98 => TestStatus::XFail,
                _ => TestStatus::XPass,
            };
            Test { id: format!("{path}::{name}"), status, path, name }
        })
        .collect()
}

fn bar(title: &str, c: char) -> String {
    let side = 78usize.saturating_sub(title.chars().count() + 2) / 2;
    let mut s = c.to_string().repeat(side.max(1));
    write!(s, " {title} ").unwrap();
    while s.chars().count() < 80 {
        s.push(c);
    }
    s
}

/// The `-rA` log and the plugin results file of one run of `tests`.
fn generate(tests: &[Test]) -> (String, String) {
    let mut log = String::new();
    let mut res = String::new();
    let w = |s: &mut String, line: &str| {
        s.push_str(line);
        s.push('\n');
    };
    w(&mut log, &bar("test session starts", '='));
    w(&mut log, "platform linux -- Python 3.11.7, pytest-8.4.2, pluggy-1.6.0");
    w(&mut log, "rootdir: /testbed");
    w(&mut log, "configfile: setup.cfg");
    w(&mut log, "plugins: cov-6.0.0, xdist-3.6.1, timeout-2.3.1");
    w(&mut log, &format!("collected {} items", tests.len()));
    w(&mut log, "");
    res.push_str("{\"event\":\"session\",\"pytest\":\"8.4.2\",\"python\":\"3.11.7\",\"pid\":1}\n");
    writeln!(res, "{{\"event\":\"collected\",\"count\":{}}}", tests.len()).unwrap();

    // Progress: one line per module, a letter per test.
    let mut i = 0;
    while i < tests.len() {
        let path = &tests[i].path;
        let mut line = format!("{path} ");
        while i < tests.len() && &tests[i].path == path {
            line.push(match tests[i].status {
                TestStatus::Passed => '.',
                TestStatus::Failed => 'F',
                TestStatus::Error => 'E',
                TestStatus::Skipped => 's',
                TestStatus::XFail => 'x',
                TestStatus::XPass => 'X',
            });
            i += 1;
        }
        write!(line, " [{:>3}%]", i * 100 / tests.len()).unwrap();
        w(&mut log, &line);
    }
    w(&mut log, "");

    // The plugin's records.
    for (i, t) in tests.iter().enumerate() {
        let id = serde_json::to_string(&t.id).unwrap();
        writeln!(res, "{{\"event\":\"start\",\"nodeid\":{id}}}").unwrap();
        let msg = match t.status {
            TestStatus::Failed => ",\"message\":\"AssertionError: assert 1 == 2\"",
            TestStatus::Error => ",\"message\":\"RuntimeError: fixture exploded\"",
            _ => "",
        };
        writeln!(
            res,
            "{{\"event\":\"result\",\"nodeid\":{id},\"status\":\"{}\",\"duration\":0.{:06}{msg}}}",
            t.status,
            (i * 7919) % 1_000_000
        )
        .unwrap();
    }
    res.push_str("{\"event\":\"finish\",\"exitstatus\":1}\n");

    let short = |t: &Test| t.name.split("::").last().unwrap().to_owned();
    w(&mut log, &bar("ERRORS", '='));
    for t in tests.iter().filter(|t| t.status == TestStatus::Error) {
        w(&mut log, &bar(&format!("ERROR at setup of {}", short(t)), '_'));
        w(&mut log, "");
        w(&mut log, "    @pytest.fixture");
        w(&mut log, "    def broken_fixture():");
        w(&mut log, ">       raise RuntimeError(\"fixture exploded\")");
        w(&mut log, "E       RuntimeError: fixture exploded");
        w(&mut log, "");
        w(&mut log, &format!("{}:18: RuntimeError", t.path));
    }
    w(&mut log, &bar("FAILURES", '='));
    for (n, t) in tests.iter().filter(|t| t.status == TestStatus::Failed).enumerate() {
        w(&mut log, &bar(&short(t), '_'));
        w(&mut log, "");
        w(&mut log, "value = 'a b', other = None");
        w(&mut log, "");
        w(&mut log, "    def test_it(value, other):");
        w(&mut log, "        result = compute(value)");
        w(&mut log, ">       assert result == 2");
        w(&mut log, "E       AssertionError: assert 1 == 2");
        w(&mut log, "E        +  where 1 = compute('a b')");
        w(&mut log, "");
        w(&mut log, &format!("{}:{}: AssertionError", t.path, 40 + n % 100));
        if n % 4 == 0 {
            w(&mut log, &bar("Captured stdout call", '-'));
            w(&mut log, "computing a b");
            w(&mut log, "  step 1: ok [50%]");
        }
    }
    w(&mut log, &bar("PASSES", '='));
    for t in tests.iter().filter(|t| t.status == TestStatus::Passed).step_by(20) {
        w(&mut log, &bar(&short(t), '_'));
        w(&mut log, &bar("Captured stdout call", '-'));
        w(&mut log, "connecting to localhost:5432 ... done");
    }
    w(&mut log, &bar("short test summary info", '='));
    let by = |st: TestStatus| tests.iter().filter(move |t| t.status == st);
    for t in by(TestStatus::Passed) {
        w(&mut log, &format!("PASSED {}", t.id));
    }
    for (n, t) in by(TestStatus::Skipped).enumerate() {
        w(&mut log, &format!("SKIPPED [1] {}:{}: requires network", t.path, 10 + n % 300));
    }
    for t in by(TestStatus::XFail) {
        w(&mut log, &format!("XFAIL {} - known bug #123", t.id));
    }
    for t in by(TestStatus::XPass) {
        w(&mut log, &format!("XPASS {} - was a bug", t.id));
    }
    for t in by(TestStatus::Error) {
        w(&mut log, &format!("ERROR {} - RuntimeError: fixture exploded", t.id));
    }
    for t in by(TestStatus::Failed) {
        w(&mut log, &format!("FAILED {} - AssertionError: assert 1 == 2", t.id));
    }
    let count = |st| by(st).count();
    w(
        &mut log,
        &bar(
            &format!(
                "{} failed, {} passed, {} skipped, {} xfailed, {} xpassed, {} errors in 812.34s (0:13:32)",
                count(TestStatus::Failed),
                count(TestStatus::Passed),
                count(TestStatus::Skipped),
                count(TestStatus::XFail),
                count(TestStatus::XPass),
                count(TestStatus::Error)
            ),
            '=',
        ),
    );
    (log, res)
}

/// Best and median seconds of `repeat` calls.
fn time<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (times[0], times[times.len() / 2], last.unwrap())
}

fn rates(what: &str, text: &str, best: f64, median: f64) {
    let mb = text.len() as f64 / 1e6;
    let lines = text.lines().count() as f64;
    println!(
        "  {what}: best {:.1} ms (median {:.1} ms): {:.0} MB/s, {:.2} M lines/s",
        best * 1e3,
        median * 1e3,
        mb / best,
        lines / best / 1e6
    );
}

fn main() {
    let repeat: usize = arg("--repeat").and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = std::env::temp_dir().join("swegym-testlog-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let profile = if cfg!(debug_assertions) { "dev (unoptimised)" } else { "optimised" };

    let (log_path, results_path, truth): (PathBuf, Option<PathBuf>, Option<Vec<Test>>) = match arg("--log") {
        Some(p) => (PathBuf::from(p), arg("--results").map(PathBuf::from), None),
        None => {
            let n: usize = arg("--tests").and_then(|s| s.parse().ok()).unwrap_or(200_000);
            let t = Instant::now();
            let tests = make_tests(n);
            let (log, res) = generate(&tests);
            let (lp, rp) = (dir.join("bench.rA.log"), dir.join("bench.results.jsonl"));
            std::fs::write(&lp, &log).unwrap();
            std::fs::write(&rp, &res).unwrap();
            println!("generated {n} tests in {:.1}s: {}, {}", t.elapsed().as_secs_f64(), lp.display(), rp.display());
            (lp, Some(rp), Some(tests))
        }
    };
    let log = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap()).into_owned();
    println!(
        "testlog bench, profile {profile}, {repeat} repeats; log {:.1} MB, {} lines",
        log.len() as f64 / 1e6,
        log.lines().count()
    );

    let (best, median, ours) = time(repeat, || parse_log(&log));
    rates("pytest_log::parse_log", &log, best, median);
    println!("    {} tests: {}", ours.len(), summarize(ours.values().copied()));
    if let Some(tests) = &truth {
        let want: TestReport =
            tests.iter().filter(|t| t.status != TestStatus::Skipped).map(|t| (t.id.clone(), t.status)).collect();
        let wrong =
            want.iter().filter(|(k, v)| ours.get(*k) != Some(v)).count() + ours.len().saturating_sub(want.len());
        println!(
            "    agrees with the generated truth (all but skipped tests): {}",
            if wrong == 0 { "yes" } else { "NO" }
        );
        assert_eq!(wrong, 0, "parse_log disagrees with the generated log on {wrong} tests");
    }

    if let Some(rp) = &results_path {
        let text = std::fs::read_to_string(rp).unwrap();
        let (rbest, rmedian, parsed) = time(repeat, || parse_results(&text));
        rates("plugin::parse_results", &text, rbest, rmedian);
        println!(
            "    {} tests, {} bad lines, finished {}, exit status {:?}",
            parsed.tests.len(),
            parsed.bad_lines,
            parsed.finished,
            parsed.exit_status
        );
        if let Some(tests) = &truth {
            let want: TestReport = tests.iter().map(|t| (t.id.clone(), t.status)).collect();
            assert_eq!(parsed.tests, want, "parse_results disagrees with the generated truth");
            println!("    agrees with the generated truth (all tests): yes");
        }
    }

    peer(&log_path, repeat.min(3), best, &ours, &dir);
}

fn summarize(statuses: impl Iterator<Item = TestStatus>) -> String {
    let mut counts: BTreeMap<TestStatus, usize> = BTreeMap::new();
    for s in statuses {
        *counts.entry(s).or_default() += 1;
    }
    counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// SWE-bench's parser on the same file, and how its result differs from ours.
fn peer(log_path: &Path, repeat: usize, our_best: f64, ours: &TestReport, dir: &Path) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer/swebench_parse.py");
    let map_path = dir.join("peer-map.json");
    let _ = std::fs::remove_file(&map_path);
    let out = Command::new("python3")
        .arg(script)
        .arg("--log")
        .arg(log_path)
        .args(["--repeat", &repeat.to_string(), "--out"])
        .arg(&map_path)
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            println!(
                "  peer swebench: not measured ({}); install it with: python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install swebench==4.1.0 ghapi==1.0.6 fastcore==1.8.8",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed")
            );
            return;
        }
        Err(e) => {
            println!("  peer swebench: not measured (python3: {e})");
            return;
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
    let bytes = v["bytes"].as_f64().unwrap_or(f64::NAN);
    let lines = v["lines"].as_f64().unwrap_or(f64::NAN);
    println!(
        "  peer swebench {} {} (Python {}): best of {repeat} {:.1} ms: {:.0} MB/s, {:.2} M lines/s",
        v["version"].as_str().unwrap_or("?"),
        v["function"].as_str().unwrap_or("?"),
        v["python"].as_str().unwrap_or("?"),
        secs * 1e3,
        bytes / 1e6 / secs,
        lines / secs / 1e6
    );
    println!("  ratio swegym-build / swebench: {:.1}x throughput (parse_log, {})", secs / our_best, {
        if cfg!(debug_assertions) {
            "our side unoptimised"
        } else {
            "optimised"
        }
    });

    let Ok(text) = std::fs::read_to_string(&map_path) else { return };
    let theirs: BTreeMap<String, String> = serde_json::from_str(&text).unwrap_or_default();
    let mut same = 0;
    let mut status_differs = 0;
    let mut missing = 0;
    let mut truncated = 0;
    let mut xpass_dropped = 0;
    for (id, st) in ours {
        match theirs.get(id) {
            Some(s) if s == st.as_str() => same += 1,
            Some(_) => status_differs += 1,
            None => {
                missing += 1;
                let first = id.split_whitespace().next().unwrap_or("");
                if first != id && theirs.contains_key(first) {
                    truncated += 1;
                } else if *st == TestStatus::XPass {
                    xpass_dropped += 1;
                }
            }
        }
    }
    let extra: Vec<&String> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    let junk = extra.iter().filter(|k| k.starts_with('[')).count();
    println!(
        "  peer result vs ours: {} IDs vs {}; {same} identical, {status_differs} with another status, {missing} of ours missing ({truncated} cut at a space, {xpass_dropped} XPASS not recorded, {} other)",
        theirs.len(),
        ours.len(),
        missing - truncated - xpass_dropped,
    );
    println!(
        "    peer-only IDs: {} ({} truncated parametrized IDs, {} junk like {:?}); peer statuses: {}",
        extra.len(),
        extra.len() - junk,
        junk,
        extra.iter().find(|k| k.starts_with('[')).map(|s| s.as_str()).unwrap_or("-"),
        v["by_status"]
    );
}
