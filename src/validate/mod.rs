//! The `validate` stage: run each instance's touched tests before and after its gold patch, in
//! fresh containers without network, K times per phase, and keep the instances with at least one
//! stable FAIL_TO_PASS test (FACTS.md "Validation").
//!
//! One container per run: patches and our pytest result plugin go in, results come out through
//! the Engine API as files. An instance's runs, per-test results and lists are written in one
//! transaction once all its runs are done, so a killed run loses only the instances in flight and
//! the next run redoes exactly those.

pub mod classify;
pub mod script;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use crate::cancel::Cancel;
use crate::context::{workspace_label, Context};
use crate::docker::{last_lines, DockerError, RunOutput, RunSpec};
use crate::executor::{Executor, RunJob};
use crate::model::{ListAgreement, RawInstance};
use crate::progress::set_total;
use crate::recipe::{short_hash, EnvSpec};
use crate::store::{InstanceFilter, RunRecord, Store, StoreError, ValidationRecord};
use crate::testlog::plugin::{parse_results, PLUGIN_SOURCE};
use crate::testlog::pytest_log::parse_log;
use crate::testlog::TestReport;

use classify::{classify, describe_flaky};
use script::{out, plan, select_tests, Phase, Selection, DIR};

/// Why an instance is not curated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Reason {
    /// `git apply` of the test patch failed at base_commit.
    TestPatchDoesNotApply,
    /// `git apply` of the gold patch failed on top of the test patch.
    PatchDoesNotApply,
    /// A run hit the time limit (the detail names the test that was running).
    Timeout,
    /// No test reported a result after the fix (collection or import error, crash).
    EnvironmentBroken,
    /// The test patch touches no test the recipe's selection can run.
    NoTestsSelected,
    /// Tests ran, none went from failing to passing.
    NoFailToPass,
    /// The only tests that went from failing to passing did so in some runs only.
    OnlyFlaky,
}

impl Reason {
    /// The stored code, e.g. `no_fail_to_pass`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What to validate and how.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    pub filter: InstanceFilter,
    /// Instances validated at once (one container each at a time).
    pub jobs: usize,
    /// Runs per phase; a test whose outcome differs between runs is flaky.
    pub runs: u32,
    /// Limit of one run (one container).
    pub timeout: Duration,
    pub memory_bytes: i64,
    pub pids: i64,
    pub nano_cpus: i64,
    /// Validate again even when the stored validation used the same image and settings.
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// How far one instance's lists agree with the dataset it was imported from.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedAgreement {
    pub fail_to_pass: ListAgreement,
    pub pass_to_pass: ListAgreement,
}

/// One instance this run validated.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceOutcome {
    pub instance_id: String,
    pub repo: String,
    /// `curated` or `rejected`.
    pub status: String,
    pub reason: Option<Reason>,
    pub detail: Option<String>,
    pub fail_to_pass: usize,
    pub pass_to_pass: usize,
    pub flaky: usize,
    pub seconds: f64,
    pub published: Option<PublishedAgreement>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidateSummary {
    pub instances: Vec<InstanceOutcome>,
    pub validated: u64,
    pub curated: u64,
    pub rejected: u64,
    /// Already validated with the same image and settings.
    pub unchanged: u64,
    /// Selected instances without a built instance image (run `build`).
    pub without_image: u64,
    /// Instances whose image does not record the recipe environment it was built with (built by
    /// an older swegym-build: `build` records it, without rebuilding).
    pub without_recipe: u64,
    pub by_reason: BTreeMap<String, u64>,
    /// Imported instances whose published FAIL_TO_PASS we compared, and how many are identical.
    pub published_compared: u64,
    pub published_f2p_same: u64,
    pub published_p2p_same: u64,
    /// Containers run, and their mean overhead: container start to results, minus pytest's time.
    pub runs: u64,
    pub mean_overhead_seconds: Option<f64>,
    /// Containers (with `--executor swarm`, also services and secrets) left by an earlier, killed
    /// run of this workspace and removed now.
    pub swept_containers: usize,
    pub seconds: f64,
    pub interrupted: bool,
}

struct Job {
    instance: RawInstance,
    image: String,
    spec: EnvSpec,
    selection: Option<Selection>,
    settings_hash: String,
    published: Option<(Vec<String>, Vec<String>)>,
}

struct Ctx<'a> {
    executor: Executor,
    opts: &'a ValidateOptions,
    logs: PathBuf,
    label: (String, String),
    cancel: Cancel,
}

/// Validates the selected instances that have an instance image.
pub async fn validate(context: &mut Context, opts: &ValidateOptions) -> Result<ValidateSummary, ValidateError> {
    let executor = context.executor().await?;
    let Context { store, workspace: ws, progress, cancel, .. } = context;
    let started = Instant::now();
    let mut summary = ValidateSummary::default();
    let label = workspace_label(ws);
    // We hold the workspace lock, so any container (or swarm service) of this workspace is an
    // orphan.
    summary.swept_containers = executor.sweep(&label).await?;

    let jobs = plan_jobs(store, &executor, opts, &mut summary).await?;
    let cx = Ctx { executor, opts, logs: ws.validate_logs_dir(), label, cancel: cancel.clone() };
    let bar = progress.bar("validate");
    set_total(&bar, jobs.len() as u64, "instances");
    let mut overheads = Vec::new();
    let cxr = &cx;
    let mut stream = futures_util::stream::iter(jobs.into_iter().map(|job| async move {
        if cxr.cancel.is_cancelled() {
            return (job, Err(ValidateError::Docker(DockerError::Interrupted)));
        }
        let r = validate_one(cxr, &job).await;
        (job, r)
    }))
    .buffer_unordered(opts.jobs.max(1));
    // Drained to the end even after Ctrl-C: every in-flight run removes its container first.
    while let Some((job, res)) = stream.next().await {
        match res {
            Ok((record, runs)) => {
                store.write_validation(&record, &runs)?;
                overheads.extend(runs.iter().filter_map(|r| r.test_seconds.map(|t| (r.seconds - t).max(0.0))));
                summary.runs += runs.len() as u64;
                let outcome = outcome_of(&job, &record);
                summary.validated += 1;
                if record.status == "curated" {
                    summary.curated += 1;
                } else {
                    summary.rejected += 1;
                    *summary.by_reason.entry(record.reason.clone().unwrap_or_default()).or_default() += 1;
                }
                if let Some(p) = &outcome.published {
                    summary.published_compared += 1;
                    summary.published_f2p_same += u64::from(p.fail_to_pass.same);
                    summary.published_p2p_same += u64::from(p.pass_to_pass.same);
                }
                summary.instances.push(outcome);
                bar.inc(1);
                bar.set_message(format!("{} curated · {} rejected", summary.curated, summary.rejected));
            }
            Err(ValidateError::Docker(DockerError::Interrupted)) => summary.interrupted = true,
            Err(e) => return Err(e),
        }
    }
    bar.finish_and_clear();
    if !overheads.is_empty() {
        summary.mean_overhead_seconds = Some(overheads.iter().sum::<f64>() / overheads.len() as f64);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The instances to validate now, with their image, environment and selection.
async fn plan_jobs(
    store: &Store,
    executor: &Executor,
    opts: &ValidateOptions,
    summary: &mut ValidateSummary,
) -> Result<Vec<Job>, ValidateError> {
    let mut jobs = Vec::new();
    for c in store.validation_candidates(&opts.filter)? {
        let inst = c.instance;
        let Some(image) = c.image else {
            summary.without_image += 1;
            continue;
        };
        let spec = match c.env_spec.as_deref().map(EnvSpec::from_json) {
            Some(Ok(spec)) => spec,
            Some(Err(e)) => {
                tracing::warn!("{}: the environment recorded on image {image} cannot be read: {e}", inst.instance_id);
                summary.without_recipe += 1;
                continue;
            }
            None => {
                summary.without_recipe += 1;
                continue;
            }
        };
        let selection = select_tests(&spec, &inst.test_patch);
        let settings_hash = settings_hash(&image, &spec, selection.as_ref(), opts);
        if !opts.force && c.settings_hash.as_deref() == Some(settings_hash.as_str()) {
            summary.unchanged += 1;
            continue;
        }
        if !executor.has_image(&image).await? {
            let place = if executor.is_local() { "engine" } else { "registry" };
            tracing::warn!("{}: image {image} is recorded but not in the {place}; run `build` again", inst.instance_id);
            summary.without_image += 1;
            continue;
        }
        let published = store
            .published(&inst.instance_id)?
            .filter(|p| !p.fail_to_pass.is_empty())
            .map(|p| (p.fail_to_pass, p.pass_to_pass));
        jobs.push(Job { instance: inst, image, spec, selection, settings_hash, published });
    }
    Ok(jobs)
}

/// A hash of everything that decides a validation's result.
fn settings_hash(image: &str, spec: &EnvSpec, selection: Option<&Selection>, o: &ValidateOptions) -> String {
    let text = format!(
        "{image}\n{}\n{:?}\nruns={} timeout={} mem={} pids={} cpus={}\n{}",
        spec.test_cmd,
        selection.map(|s| &s.args),
        o.runs,
        o.timeout.as_secs(),
        o.memory_bytes,
        o.pids,
        o.nano_cpus,
        PLUGIN_SOURCE
    );
    short_hash(text.as_bytes())
}

fn outcome_of(job: &Job, r: &ValidationRecord) -> InstanceOutcome {
    InstanceOutcome {
        instance_id: r.instance_id.clone(),
        repo: job.instance.repo.clone(),
        status: r.status.clone(),
        reason: r.reason.as_deref().and_then(reason_from_str),
        detail: r.detail.clone(),
        fail_to_pass: r.lists.fail_to_pass.len(),
        pass_to_pass: r.lists.pass_to_pass.len(),
        flaky: r.lists.flaky.len(),
        seconds: r.seconds,
        published: job.published.as_ref().map(|(f2p, p2p)| PublishedAgreement {
            fail_to_pass: ListAgreement::between(&r.lists.fail_to_pass, f2p),
            pass_to_pass: ListAgreement::between(&r.lists.pass_to_pass, p2p),
        }),
    }
}

fn reason_from_str(s: &str) -> Option<Reason> {
    s.parse().ok()
}

/// One run's result as read from its files.
struct RunResult {
    record: RunRecord,
    report: TestReport,
    /// The test that was running when the run was stopped at its time limit.
    running: Option<String>,
    collect_errors: Vec<String>,
    apply_output: String,
    log_tail: String,
}

/// Reads a finished run. The structured results are authoritative; the `-rA` log is parsed only
/// when the plugin wrote nothing at all (it could not be loaded).
fn read_run(out: &RunOutput, phase: Phase, run: u32, seconds: f64, log_path: Option<&Path>) -> RunResult {
    let rc = |name: &str| out.number_in(DIR, name).map(|v| v as i64);
    let log = out.text_in(DIR, out::TEST_LOG).unwrap_or_default();
    let (outcome, apply_output) = if rc(out::APPLY_TEST_RC).is_some_and(|c| c != 0) {
        ("test_patch_does_not_apply", out.text_in(DIR, out::APPLY_TEST_OUT).unwrap_or_default())
    } else if rc(out::APPLY_GOLD_RC).is_some_and(|c| c != 0) {
        ("patch_does_not_apply", out.text_in(DIR, out::APPLY_GOLD_OUT).unwrap_or_default())
    } else if out.timed_out {
        ("timeout", String::new())
    } else if rc(out::TEST_RC).is_none() {
        ("no_results", String::new())
    } else {
        ("ran", String::new())
    };
    let (report, running, collect_errors, source) = match out.text_in(DIR, out::RESULTS) {
        Some(t) => {
            let r = parse_results(&t);
            (r.tests, r.running, r.collect_errors, "plugin")
        }
        None if !log.is_empty() => (parse_log(&log), None, vec![], "log"),
        None => (TestReport::new(), None, vec![], "none"),
    };
    let test_seconds = match (out.number_in(DIR, out::T0), out.number_in(DIR, out::T1)) {
        (Some(a), Some(b)) if b >= a => Some(b - a),
        _ => None,
    };
    let results = report.iter().map(|(t, s)| (t.clone(), s.as_str().to_string())).collect();
    RunResult {
        record: RunRecord {
            phase: phase.as_str().into(),
            run,
            outcome: outcome.into(),
            exit_code: rc(out::TEST_RC),
            source: source.into(),
            seconds,
            test_seconds,
            log_path: log_path.map(|p| p.to_string_lossy().into_owned()),
            results,
        },
        report,
        running,
        collect_errors,
        apply_output,
        log_tail: last_lines(if log.is_empty() { &out.output } else { &log }, 15),
    }
}

/// Why no test went from failing to passing, in numbers; when every test fails in both phases
/// that is said first, with a few of them: the environment or the test command is the suspect,
/// not the instance.
fn no_fail_to_pass_detail(passed_both: usize, failed_both: &[String], broke: usize) -> String {
    let total = passed_both + failed_both.len() + broke;
    let counts = format!(
        "{total} tests ran: {passed_both} passed before and after, {} failed before and after, {broke} passed before and failed after; none failed before and passed after",
        failed_both.len()
    );
    if total > 0 && failed_both.len() == total {
        let some: Vec<&str> = failed_both.iter().take(3).map(String::as_str).collect();
        format!(
            "every test failed before and after the gold patch (e.g. {}): the environment or the test command is probably broken, see the run logs; {counts}",
            some.join(", ")
        )
    } else {
        counts
    }
}

fn rejected(job: &Job, reason: Reason, detail: String, runs: u32, seconds: f64) -> ValidationRecord {
    ValidationRecord {
        instance_id: job.instance.instance_id.clone(),
        image: job.image.clone(),
        settings_hash: job.settings_hash.clone(),
        status: "rejected".into(),
        reason: Some(reason.as_str().into()),
        detail: Some(detail),
        runs,
        lists: Default::default(),
        seconds,
        overhead: None,
    }
}

/// All runs of one instance, then its verdict.
async fn validate_one(cx: &Ctx<'_>, job: &Job) -> Result<(ValidationRecord, Vec<RunRecord>), ValidateError> {
    let t = Instant::now();
    let k = cx.opts.runs.max(1);
    let Some(selection) = &job.selection else {
        let detail = "the test patch touches no test file the recipe's selection can run".to_string();
        return Ok((rejected(job, Reason::NoTestsSelected, detail, k, 0.0), vec![]));
    };
    let dir = cx.logs.join(&job.instance.instance_id);
    std::fs::create_dir_all(&dir).map_err(|source| ValidateError::Io { path: dir.clone(), source })?;
    let mut records = Vec::new();
    let mut reports: HashMap<Phase, Vec<TestReport>> = HashMap::new();
    let mut broken_detail = String::new();
    for phase in [Phase::Before, Phase::After] {
        for run in 1..=k {
            let p = plan(&job.spec, selection, &job.instance.test_patch, &job.instance.patch, phase, run);
            let mut spec = RunSpec::new(&job.image, &p.script);
            spec.files = p.files;
            spec.collect = p.collect;
            spec.timeout = cx.opts.timeout;
            spec.memory_bytes = cx.opts.memory_bytes;
            spec.pids = cx.opts.pids;
            spec.nano_cpus = cx.opts.nano_cpus;
            spec.network = false;
            spec.labels = vec![cx.label.clone()];
            let started = Instant::now();
            let what = format!("{} (validation, {} run {run})", job.instance.instance_id, phase.as_str());
            let out = cx.executor.execute(RunJob { spec, what }, &cx.cancel).await?;
            let seconds = started.elapsed().as_secs_f64();
            let log_path = dir.join(format!("{}-{run}.log", phase.as_str()));
            let log_written = match out.file_in(DIR, out::TEST_LOG) {
                Some(bytes) => std::fs::write(&log_path, bytes).is_ok(),
                None => std::fs::write(&log_path, out.output.as_bytes()).is_ok(),
            };
            let r = read_run(&out, phase, run, seconds, log_written.then_some(log_path.as_path()));
            let at = format!("{} run {run}", phase.as_str());
            let stop = match r.record.outcome.as_str() {
                "test_patch_does_not_apply" => {
                    Some((Reason::TestPatchDoesNotApply, format!("{at}: {}", last_lines(&r.apply_output, 6))))
                }
                "patch_does_not_apply" => {
                    Some((Reason::PatchDoesNotApply, format!("{at}: {}", last_lines(&r.apply_output, 6))))
                }
                "timeout" => Some((
                    Reason::Timeout,
                    match &r.running {
                        Some(test) => {
                            format!("{at}: stopped after {} s while running {test}", cx.opts.timeout.as_secs())
                        }
                        None => format!("{at}: stopped after {} s", cx.opts.timeout.as_secs()),
                    },
                )),
                _ => None,
            };
            if phase == Phase::After && r.report.is_empty() && broken_detail.is_empty() {
                broken_detail = if r.collect_errors.is_empty() {
                    format!("{at}: no test reported a result (exit {:?}):\n{}", r.record.exit_code, r.log_tail)
                } else {
                    format!("{at}: collection errors in {}:\n{}", r.collect_errors.join(", "), r.log_tail)
                };
            }
            reports.entry(phase).or_default().push(r.report);
            records.push(r.record);
            if let Some((reason, detail)) = stop {
                // Further runs cannot change the verdict; a hanging suite would only hang again.
                let mut v = rejected(job, reason, detail, k, t.elapsed().as_secs_f64());
                v.overhead = mean_overhead(&records);
                return Ok((v, records));
            }
        }
    }
    let before = reports.remove(&Phase::Before).unwrap_or_default();
    let after = reports.remove(&Phase::After).unwrap_or_default();
    let lists = classify(&before, &after);
    let (status, reason, detail) = if !lists.fail_to_pass.is_empty() {
        ("curated", None, None)
    } else if after.iter().all(TestReport::is_empty) {
        ("rejected", Some(Reason::EnvironmentBroken), Some(broken_detail))
    } else if !lists.flaky.is_empty() {
        ("rejected", Some(Reason::OnlyFlaky), Some(describe_flaky(&before, &after, &lists.flaky)))
    } else {
        (
            "rejected",
            Some(Reason::NoFailToPass),
            Some(no_fail_to_pass_detail(lists.pass_to_pass.len(), &lists.fail_to_fail, lists.pass_to_fail.len())),
        )
    };
    let record = ValidationRecord {
        instance_id: job.instance.instance_id.clone(),
        image: job.image.clone(),
        settings_hash: job.settings_hash.clone(),
        status: status.into(),
        reason: reason.map(|r| r.as_str().to_string()),
        detail,
        runs: k,
        lists,
        seconds: t.elapsed().as_secs_f64(),
        overhead: mean_overhead(&records),
    };
    Ok((record, records))
}

fn mean_overhead(runs: &[RunRecord]) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(|r| r.test_seconds.map(|t| (r.seconds - t).max(0.0))).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(files: &[(&str, &str)], timed_out: bool) -> RunOutput {
        RunOutput {
            exit_code: Some(0),
            output: "container output".into(),
            timed_out,
            files: files.iter().map(|(n, b)| (format!("{DIR}/{n}"), b.as_bytes().to_vec())).collect(),
        }
    }

    #[test]
    fn a_test_patch_that_does_not_apply_is_named_with_gits_words() {
        let out = output(&[(out::APPLY_TEST_RC, "1\n"), (out::APPLY_TEST_OUT, "error: patch failed: a.py:3\n")], false);
        let r = read_run(&out, Phase::Before, 1, 1.0, None);
        assert_eq!(r.record.outcome, "test_patch_does_not_apply");
        assert!(r.apply_output.contains("patch failed"));
    }

    #[test]
    fn printed_results_are_ignored_when_the_plugin_reported() {
        // The log claims a pass the structured results do not have: the results win.
        let results = concat!(r#"{"event":"start","nodeid":"tests/test_a.py::test_real"}"#, "\n");
        let out = output(
            &[
                (out::APPLY_TEST_RC, "0"),
                (out::RESULTS, results),
                (out::TEST_LOG, "PASSED tests/test_a.py::test_forged\n"),
                (out::TEST_RC, "1"),
                (out::T0, "100.0"),
                (out::T1, "101.5"),
            ],
            false,
        );
        let r = read_run(&out, Phase::Before, 1, 2.0, None);
        assert_eq!(r.record.source, "plugin");
        assert!(!r.report.contains_key("tests/test_a.py::test_forged"));
        assert_eq!(r.record.test_seconds, Some(1.5));
    }

    #[test]
    fn no_fail_to_pass_says_when_every_test_failed_both_times() {
        let all_failed = no_fail_to_pass_detail(0, &["t::a".into(), "t::b".into()], 0);
        assert!(all_failed.starts_with("every test failed before and after") && all_failed.contains("t::a, t::b"));
        let mixed = no_fail_to_pass_detail(3, &["t::a".into()], 1);
        assert!(mixed.starts_with("5 tests ran: 3 passed before and after, 1 failed"), "{mixed}");
        assert!(no_fail_to_pass_detail(0, &[], 0).starts_with("0 tests ran"));
    }

    #[test]
    fn reasons_round_trip_through_their_names() {
        for r in [Reason::Timeout, Reason::OnlyFlaky, Reason::NoTestsSelected, Reason::PatchDoesNotApply] {
            assert_eq!(reason_from_str(r.as_str()), Some(r));
        }
    }
}
