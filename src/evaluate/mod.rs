//! The `evaluate` stage: score model patches on the built instance images — the reward signal.
//!
//! Per prediction, in a fresh container from the instance image (no network, limits, a time
//! limit): the model's patch (minus what could tamper with the tests, see [`tamper`]) is applied
//! with `git apply`, else `patch --fuzz`; the instance's test files are restored to `base_commit`
//! and its test patch applied; the tests run under our result plugin, and the instance's
//! FAIL_TO_PASS and PASS_TO_PASS lists (ours from validation, else the published ones kept by
//! `import`) decide the outcome: `resolved` when every one of them passes.
//!
//! Scores are stored per run id, instance and patch hash: running the same predictions again
//! does nothing, and a killed run goes on where it stopped. SWE-bench-format reports are written
//! from the store ([`report`]). [`score`] is the one scoring path, also used by `serve`.

pub mod predictions;
pub mod report;
pub mod script;
pub mod tamper;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cancel::Cancel;
use crate::context::{workspace_label, Context};
use crate::diff::touched_test_files;
use crate::docker::{last_lines, DockerError, RunOutput, RunSpec};
use crate::executor::{Executor, RunJob};
use crate::progress::set_total;
use crate::recipe::{EnvSpec, TestSelection};
use crate::store::{EvaluationRecord, ScoringTarget, StoreError};
use crate::testlog::plugin::parse_results;
use crate::testlog::TestStatus;

use predictions::{Prediction, Problem};
use script::{out, DIR};

/// How a prediction came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::EnumString, strum::AsRefStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    /// Every FAIL_TO_PASS and every PASS_TO_PASS test passed.
    Resolved,
    /// The tests ran; at least one of them did not pass.
    Unresolved,
    /// No patch was given.
    EmptyPatch,
    /// Neither `git apply` nor `patch --fuzz` could apply it.
    PatchDoesNotApply,
    /// The evaluation itself failed: a timeout, a crash, a test patch that no longer applies.
    Error,
}

/// Limits of one evaluation container.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: i64,
    pub pids: i64,
    pub nano_cpus: i64,
}

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    pub predictions: PathBuf,
    pub run_id: String,
    /// Evaluations at once (one container each).
    pub jobs: usize,
    pub limits: Limits,
    /// Where the SWE-bench-format reports go (`<dir>/<run id>/…`).
    pub reports_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("cannot read the predictions {path}: {source}")]
    Predictions { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// One prediction of this run.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionOutcome {
    pub instance_id: String,
    pub model: String,
    pub status: Status,
    pub resolved: bool,
    /// Paths of the patch's dropped files (see [`tamper`]); empty when none.
    pub tampered: Vec<String>,
    pub applied_with: Option<String>,
    pub fail_to_pass_failed: Vec<String>,
    pub pass_to_pass_failed: Vec<String>,
    pub detail: Option<String>,
    pub seconds: f64,
    /// Scored by an earlier run with the same run id (not again now).
    pub unchanged: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EvaluateSummary {
    pub run_id: String,
    pub predictions: Vec<PredictionOutcome>,
    /// Entries that could not be scored (bad lines, unknown instances, instances not built).
    pub problems: Vec<Problem>,
    pub submitted: u64,
    pub scored: u64,
    pub unchanged: u64,
    pub by_status: BTreeMap<String, u64>,
    pub tampered: u64,
    /// SWE-bench-format reports written (one summary per model, a report.json per instance).
    pub reports: Vec<PathBuf>,
    /// Containers run now, and their mean overhead: container start to result, minus the tests.
    pub runs: u64,
    pub mean_overhead_seconds: Option<f64>,
    pub seconds: f64,
    pub interrupted: bool,
}

/// The hash a patch is stored and cached under: sha256 of its bytes, as hex.
pub fn patch_hash(patch: &str) -> String {
    let d = Sha256::digest(patch.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why `target` cannot be scored, or `None` when it can.
pub fn unscorable(target: &ScoringTarget) -> Option<String> {
    let id = &target.instance.instance_id;
    if target.image.is_none() {
        return Some(format!("{id} has no built instance image: run `swegym-build build --instance {id}`"));
    }
    if target.env_spec.is_none() {
        return Some(format!("{id}: its image records no test command (built by an older swegym-build): run `build`"));
    }
    if target.fail_to_pass.is_empty() {
        return Some(format!(
            "{id} has no FAIL_TO_PASS list: validate it (`swegym-build validate --instance {id}`) or import its published row"
        ));
    }
    None
}

/// What an evaluation needs besides the patch.
pub struct Scorer {
    /// Where the evaluation containers run (this engine, or swarm tasks).
    pub executor: Executor,
    pub limits: Limits,
    /// Labels of every container (the workspace's, so a later run can sweep up after a kill).
    pub labels: Vec<(String, String)>,
}

/// Scores `model_patch` on `target` (which must be scorable: see [`unscorable`]). `run_id`,
/// `model` and the hash are copied into the record. Errors only when the engine fails or on
/// Ctrl-C; everything the patch or the tests do is an outcome.
pub async fn score(
    scorer: &Scorer,
    target: &ScoringTarget,
    run_id: &str,
    model: &str,
    model_patch: &str,
    cancel: &Cancel,
) -> Result<EvaluationRecord, DockerError> {
    let t = Instant::now();
    let inst = &target.instance;
    let mut record = EvaluationRecord {
        run_id: run_id.to_string(),
        instance_id: inst.instance_id.clone(),
        patch_hash: patch_hash(model_patch),
        model: model.to_string(),
        status: Status::Error.to_string(),
        applied_with: None,
        tampered: vec![],
        detail: None,
        image: target.image.clone(),
        tests_source: target.tests_source.clone(),
        fail_to_pass_passed: vec![],
        fail_to_pass_failed: target.fail_to_pass.clone(),
        pass_to_pass_passed: vec![],
        pass_to_pass_failed: target.pass_to_pass.clone(),
        tests: BTreeMap::new(),
        seconds: 0.0,
        test_seconds: None,
    };
    if model_patch.trim().is_empty() {
        record.status = Status::EmptyPatch.to_string();
        return Ok(record);
    }
    let (Some(image), Some(spec)) =
        (&target.image, target.env_spec.as_deref().and_then(|s| EnvSpec::from_json(s).ok()))
    else {
        record.detail = unscorable(target).or_else(|| Some("the image's recorded environment cannot be read".into()));
        return Ok(record);
    };
    let test_files = touched_test_files(&inst.test_patch);
    let all_touched: Vec<String> = crate::diff::Patch::parse(&inst.test_patch)
        .files()
        .iter()
        .flat_map(|f| [f.old_path(), f.new_path()])
        .flatten()
        .map(str::to_string)
        .collect();
    let filtered = tamper::filter(model_patch, &all_touched);
    record.tampered = filtered.dropped.clone();
    // Exactly the tests that decide the outcome.
    let mut wanted: Vec<String> = target.fail_to_pass.iter().chain(&target.pass_to_pass).cloned().collect();
    wanted.sort();
    wanted.dedup();
    let args = match spec.test_selection {
        TestSelection::Files => test_args(&wanted, &test_files),
        TestSelection::MypyCases | TestSelection::MypyCasesMentioned => mypy_args(&wanted),
    };
    let plan = script::plan(&filtered.kept, &inst.test_patch, &all_touched, &spec.test_cmd, &args);
    let mut run = RunSpec::new(image, &plan.script);
    run.files = plan.files;
    run.collect = plan.collect;
    run.timeout = scorer.limits.timeout;
    run.memory_bytes = scorer.limits.memory_bytes;
    run.pids = scorer.limits.pids;
    run.nano_cpus = scorer.limits.nano_cpus;
    run.network = false;
    run.labels = scorer.labels.clone();
    let what = format!("{} (evaluation of {model}'s patch)", target.instance.instance_id);
    let out = scorer.executor.execute(RunJob { spec: run, what }, cancel).await?;
    read_outcome(&mut record, target, &out, scorer.limits.timeout);
    record.seconds = t.elapsed().as_secs_f64();
    Ok(record)
}

/// The test files to run: those of the decisive test ids (`file::name`), else the files the
/// test patch touches.
fn test_args(wanted: &[String], touched: &[String]) -> Vec<String> {
    let mut files: Vec<String> = wanted.iter().filter_map(|t| t.split("::").next()).map(str::to_string).collect();
    files.sort();
    files.dedup();
    if files.is_empty() || files.iter().any(|f| !f.ends_with(".py")) {
        return touched.to_vec();
    }
    files
}

/// mypy's data-driven cases: their test modules, and `-k` over the case names (the last part of
/// an id such as `mypy/test/testcheck.py::TypeCheckSuite::check-classes.test::testX`).
fn mypy_args(wanted: &[String]) -> Vec<String> {
    let mut files: Vec<String> = wanted.iter().filter_map(|t| t.split("::").next()).map(str::to_string).collect();
    files.sort();
    files.dedup();
    let mut names: Vec<&str> = wanted.iter().filter_map(|t| t.rsplit("::").next()).collect();
    names.sort();
    names.dedup();
    files.push("-k".into());
    files.push(names.join(" or "));
    files
}

/// A test counts as passing as SWE-bench counts it: PASSED, or an expected failure (XFAIL).
fn passes(status: TestStatus) -> bool {
    matches!(status, TestStatus::Passed | TestStatus::XFail)
}

/// Fills `record` from a finished run.
fn read_outcome(record: &mut EvaluationRecord, target: &ScoringTarget, out: &RunOutput, timeout: Duration) {
    let applied = out.text_in(DIR, out::APPLIED_WITH).map(|t| t.trim().to_string());
    record.applied_with = applied.clone().filter(|a| a == "git" || a == "patch");
    if applied.as_deref() == Some("none") {
        record.status = Status::PatchDoesNotApply.to_string();
        record.detail = Some(last_lines(&out.text_in(DIR, out::APPLY_MODEL_OUT).unwrap_or_default(), 8));
        return;
    }
    if out.number_in(DIR, out::APPLY_TEST_RC).is_some_and(|rc| rc != 0.0) {
        record.detail = Some(format!(
            "the instance's test patch does not apply after the model's patch: {}",
            last_lines(&out.text_in(DIR, out::APPLY_TEST_OUT).unwrap_or_default(), 6)
        ));
        return;
    }
    let results = out.text_in(DIR, out::RESULTS).map(|t| parse_results(&t));
    if let (Some(a), Some(b)) = (out.number_in(DIR, out::T0), out.number_in(DIR, out::T1)) {
        record.test_seconds = (b >= a).then_some(b - a);
    }
    if out.timed_out {
        let running = results.as_ref().and_then(|r| r.running.clone());
        record.detail = Some(match running {
            Some(t) => format!("stopped after {} s while running {t}", timeout.as_secs()),
            None => format!("stopped after {} s", timeout.as_secs()),
        });
        return;
    }
    let Some(results) = results else {
        // The log is never read for results: printed PASSED lines cannot pass for them.
        let log = out.text_in(DIR, out::TEST_LOG).unwrap_or_else(|| out.output.clone());
        match out.number_in(DIR, out::TEST_RC) {
            Some(rc) => {
                record.status = Status::Unresolved.to_string();
                record.detail = Some(format!("no test reported a result (exit {rc}):\n{}", last_lines(&log, 10)));
            }
            None => record.detail = Some(format!("the run did not finish:\n{}", last_lines(&out.output, 10))),
        }
        return;
    };
    record.tests = results.tests.iter().map(|(t, s)| (t.clone(), s.as_str().to_string())).collect();
    let split = |list: &[String]| -> (Vec<String>, Vec<String>) {
        list.iter().cloned().partition(|t| results.tests.get(t).is_some_and(|s| passes(*s)))
    };
    (record.fail_to_pass_passed, record.fail_to_pass_failed) = split(&target.fail_to_pass);
    (record.pass_to_pass_passed, record.pass_to_pass_failed) = split(&target.pass_to_pass);
    let resolved = record.fail_to_pass_failed.is_empty() && record.pass_to_pass_failed.is_empty();
    record.status = if resolved { Status::Resolved } else { Status::Unresolved }.to_string();
    if !resolved {
        let missing: Vec<&String> = record
            .fail_to_pass_failed
            .iter()
            .chain(&record.pass_to_pass_failed)
            .filter(|t| !results.tests.contains_key(*t))
            .collect();
        if !missing.is_empty() {
            record.detail = Some(format!(
                "{} decisive test(s) reported no result{}",
                missing.len(),
                if results.finished { "" } else { " (the test session did not finish)" }
            ));
        }
    }
}

fn outcome(r: &EvaluationRecord, unchanged: bool) -> PredictionOutcome {
    let status = r.status.parse().unwrap_or(Status::Error);
    PredictionOutcome {
        instance_id: r.instance_id.clone(),
        model: r.model.clone(),
        status,
        resolved: status == Status::Resolved,
        tampered: r.tampered.clone(),
        applied_with: r.applied_with.clone(),
        fail_to_pass_failed: r.fail_to_pass_failed.clone(),
        pass_to_pass_failed: r.pass_to_pass_failed.clone(),
        detail: r.detail.clone(),
        seconds: r.seconds,
        unchanged,
    }
}

/// A run id for `path` when none is given: its file stem.
pub fn default_run_id(path: &std::path::Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let clean: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if clean.is_empty() {
        "run".into()
    } else {
        clean
    }
}

/// Scores every prediction in the file that this run id has not scored yet, then writes the
/// reports.
pub async fn evaluate(context: &mut Context, opts: &EvaluateOptions) -> Result<EvaluateSummary, EvaluateError> {
    let executor = context.executor().await?;
    let Context { store, workspace: ws, progress, cancel, .. } = context;
    let started = Instant::now();
    let (predictions, mut problems) = predictions::read(&opts.predictions)
        .map_err(|source| EvaluateError::Predictions { path: opts.predictions.clone(), source })?;
    let mut summary = EvaluateSummary { run_id: opts.run_id.clone(), ..EvaluateSummary::default() };
    summary.submitted = predictions.len() as u64;
    let ids: Vec<String> = predictions.iter().map(|p| p.instance_id.clone()).collect();
    let targets = store.scoring_targets(&ids)?;
    let mut jobs: Vec<(Prediction, &ScoringTarget)> = Vec::new();
    for p in predictions {
        let problem = |message: String| Problem {
            at: p.at.clone(),
            instance_id: Some(p.instance_id.clone()),
            model: Some(p.model.clone()),
            message,
        };
        let Some(target) = targets.get(&p.instance_id) else {
            problems.push(problem(format!(
                "instance {} is not in this workspace (import or mine it first)",
                p.instance_id
            )));
            continue;
        };
        if let Some(stored) = store.evaluation(&opts.run_id, &p.instance_id, &patch_hash(&p.patch))? {
            summary.unchanged += 1;
            summary.predictions.push(outcome(&stored, true));
            continue;
        }
        if !p.patch.trim().is_empty() {
            if let Some(why) = unscorable(target) {
                problems.push(problem(why));
                continue;
            }
        }
        jobs.push((p, target));
    }
    summary.problems = problems;

    let label = workspace_label(ws);
    // We hold the workspace lock, so any container (or swarm service) of this workspace is an
    // orphan.
    executor.sweep(&label).await?;
    let scorer = Scorer { executor, limits: opts.limits, labels: vec![label] };
    let bar = progress.bar("evaluate");
    set_total(&bar, jobs.len() as u64, "predictions");
    let (scorer_ref, run_id, cancel) = (&scorer, opts.run_id.as_str(), &*cancel);
    let mut stream = futures_util::stream::iter(jobs.into_iter().map(|(p, target)| async move {
        if cancel.is_cancelled() {
            return Err(DockerError::Interrupted);
        }
        score(scorer_ref, target, run_id, &p.model, &p.patch, cancel).await
    }))
    .buffer_unordered(opts.jobs.max(1));
    let mut overheads = Vec::new();
    // Drained to the end even after Ctrl-C: every in-flight run removes its container first.
    while let Some(res) = stream.next().await {
        match res {
            Ok(record) => {
                store.write_evaluation(&record)?;
                if let Some(t) = record.test_seconds {
                    overheads.push((record.seconds - t).max(0.0));
                    summary.runs += 1;
                }
                summary.scored += 1;
                summary.predictions.push(outcome(&record, false));
                bar.inc(1);
            }
            Err(DockerError::Interrupted) => summary.interrupted = true,
            Err(e) => return Err(e.into()),
        }
    }
    bar.finish_and_clear();
    for p in &summary.predictions {
        *summary.by_status.entry(p.status.to_string()).or_default() += 1;
        summary.tampered += u64::from(!p.tampered.is_empty());
    }
    summary.predictions.sort_by(|a, b| (&a.model, &a.instance_id).cmp(&(&b.model, &b.instance_id)));
    if !overheads.is_empty() {
        summary.mean_overhead_seconds = Some(overheads.iter().sum::<f64>() / overheads.len() as f64);
    }
    // Per model, the instances it was asked about; unscored predictions count too (SWE-bench's
    // `incomplete_ids`).
    let mut submitted_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let scored = summary.predictions.iter().map(|p| (&p.model, &p.instance_id));
    let unscored = summary.problems.iter().filter_map(|p| p.model.as_ref().zip(p.instance_id.as_ref()));
    for (model, id) in scored.chain(unscored) {
        submitted_ids.entry(model.clone()).or_default().push(id.clone());
    }
    let stored = store.evaluations(&opts.run_id)?;
    summary.reports = report::write(&opts.reports_dir.join(&opts.run_id), &opts.run_id, &submitted_ids, &stored)
        .map_err(|(path, source)| EvaluateError::Io { path, source })?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RawInstance;

    fn target() -> ScoringTarget {
        ScoringTarget {
            instance: RawInstance {
                instance_id: "acme__calc-1".into(),
                repo: "acme/calc".into(),
                pull_number: 1,
                issue_numbers: vec![],
                base_commit: "b".repeat(40),
                patch: String::new(),
                test_patch: String::new(),
                problem_statement: String::new(),
                hints_text: String::new(),
                created_at: String::new(),
            },
            image: Some("img".into()),
            env_spec: Some("{}".into()),
            fail_to_pass: vec!["tests/test_calc.py::test_add".into()],
            pass_to_pass: vec!["tests/test_calc.py::test_zero".into()],
            tests_source: Some("validated".into()),
        }
    }

    fn run(files: &[(&str, &str)], timed_out: bool) -> RunOutput {
        RunOutput {
            exit_code: Some(0),
            output: String::new(),
            timed_out,
            files: files.iter().map(|(n, b)| (format!("{DIR}/{n}"), b.as_bytes().to_vec())).collect(),
        }
    }

    fn record() -> EvaluationRecord {
        EvaluationRecord {
            run_id: "r".into(),
            instance_id: "acme__calc-1".into(),
            patch_hash: "h".into(),
            model: "m".into(),
            status: "error".into(),
            applied_with: None,
            tampered: vec![],
            detail: None,
            image: None,
            tests_source: None,
            fail_to_pass_passed: vec![],
            fail_to_pass_failed: vec![],
            pass_to_pass_passed: vec![],
            pass_to_pass_failed: vec![],
            tests: BTreeMap::new(),
            seconds: 0.0,
            test_seconds: None,
        }
    }

    const ADD_PASSED: &str = "{\"event\":\"start\",\"nodeid\":\"tests/test_calc.py::test_add\"}\n\
{\"event\":\"result\",\"nodeid\":\"tests/test_calc.py::test_add\",\"status\":\"passed\"}\n";

    #[test]
    fn every_decisive_test_must_pass_and_a_missing_one_fails() {
        let t = target();
        let mut r = record();
        let results = format!(
            "{ADD_PASSED}{{\"event\":\"start\",\"nodeid\":\"tests/test_calc.py::test_zero\"}}\n\
             {{\"event\":\"result\",\"nodeid\":\"tests/test_calc.py::test_zero\",\"status\":\"passed\"}}\n"
        );
        read_outcome(
            &mut r,
            &t,
            &run(&[("applied_with", "git\n"), ("results.jsonl", &results), ("test.rc", "0")], false),
            Duration::from_secs(5),
        );
        assert_eq!((r.status.as_str(), r.applied_with.as_deref()), ("resolved", Some("git")));

        // test_zero never reported (the process exited early): not resolved, and said so.
        let mut r = record();
        read_outcome(
            &mut r,
            &t,
            &run(&[("applied_with", "patch\n"), ("results.jsonl", ADD_PASSED), ("test.rc", "0")], false),
            Duration::from_secs(5),
        );
        assert_eq!(r.status, "unresolved");
        assert_eq!(r.pass_to_pass_failed, vec!["tests/test_calc.py::test_zero".to_string()]);
        assert!(r.detail.as_deref().unwrap_or_default().contains("reported no result"), "{r:?}");
    }

    #[test]
    fn printed_passes_without_records_are_not_results() {
        let mut r = record();
        let log = "tests/test_calc.py::test_add PASSED\ntests/test_calc.py::test_zero PASSED\n";
        read_outcome(
            &mut r,
            &target(),
            &run(&[("applied_with", "git"), ("test.log", log), ("test.rc", "0")], false),
            Duration::from_secs(5),
        );
        assert_eq!(r.status, "unresolved");
        assert!(r.tests.is_empty());
    }

    #[test]
    fn apply_failures_and_timeouts_are_named() {
        let mut r = record();
        read_outcome(
            &mut r,
            &target(),
            &run(&[("applied_with", "none"), ("apply_model.out", "error: corrupt patch at line 3")], false),
            Duration::from_secs(5),
        );
        assert_eq!(r.status, "patch_does_not_apply");
        assert!(r.detail.as_deref().unwrap_or_default().contains("corrupt patch"));
        let mut r = record();
        let open = "{\"event\":\"start\",\"nodeid\":\"tests/test_calc.py::test_add\"}\n";
        read_outcome(
            &mut r,
            &target(),
            &run(&[("applied_with", "git"), ("results.jsonl", open)], true),
            Duration::from_secs(5),
        );
        assert_eq!(r.status, "error");
        assert_eq!(r.detail.as_deref(), Some("stopped after 5 s while running tests/test_calc.py::test_add"));
    }

    #[test]
    fn tests_run_are_the_files_of_the_decisive_ids() {
        let wanted = vec![
            "tests/test_a.py::test_x".to_string(),
            "tests/test_a.py::T::test_y".into(),
            "tests/test_b.py::z".into(),
        ];
        assert_eq!(test_args(&wanted, &[]), vec!["tests/test_a.py".to_string(), "tests/test_b.py".into()]);
        let mypy = vec!["mypy/test/testcheck.py::TypeCheckSuite::check-classes.test::testX".to_string()];
        assert_eq!(test_args(&mypy, &["t.py".into()]), vec!["mypy/test/testcheck.py".to_string()]);
        assert_eq!(test_args(&["weird".into()], &["tests/t.py".into()]), vec!["tests/t.py".to_string()]);
        assert_eq!(mypy_args(&mypy), vec!["mypy/test/testcheck.py".to_string(), "-k".into(), "testX".into()]);
    }

    #[test]
    fn run_ids_default_to_a_clean_file_stem() {
        assert_eq!(default_run_id(std::path::Path::new("/x/gpt 4o.preds.jsonl")), "gpt_4o.preds");
        assert_eq!(patch_hash("").len(), 64);
    }
}
