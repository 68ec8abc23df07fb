//! How each command's summary reads on a terminal (`Display`), and which exit code it means.
//! `--json` prints the same values through `Serialize`; the stages own the data, this module only
//! its presentation.

use std::fmt::{self, Display, Formatter};

use comfy_table::{presets, CellAlignment, Table};

use crate::error::Exit;
use crate::evaluate::EvaluateSummary;
use crate::export::ExportSummary;
use crate::image::{BuildSummary, ImageState};
use crate::import::ImportSummary;
use crate::mine::MineSummary;
use crate::model::ListAgreement;
use crate::pin::PinSummary;
use crate::refresh::RefreshSummary;
use crate::report::Report;
use crate::store::RepoStatus;
use crate::validate::ValidateSummary;

/// A command's result: printed, then turned into the process's exit code.
pub trait Outcome: Display + serde::Serialize {
    /// 0, or 3 when something failed and will be retried, or 130 when interrupted.
    fn exit(&self) -> Exit;
}

/// Interrupted beats failed beats ok.
fn exit_of(interrupted: bool, failed: bool) -> Exit {
    if interrupted {
        Exit::Interrupted
    } else if failed {
        Exit::Partial
    } else {
        Exit::Ok
    }
}

fn interrupted_note(interrupted: bool) -> &'static str {
    if interrupted {
        " — interrupted; run again to finish"
    } else {
        ""
    }
}

/// `a 1, b 2` from (name, count) pairs.
fn counts<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a u64)>) -> String {
    pairs.into_iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

/// A plain table: no borders, numbers right-aligned (every column but the first).
fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    let last = header.len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        // Two spaces between columns, none before the first or after the last.
        column.set_padding((0, if i == last { 0 } else { 2 }));
        if i > 0 {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

impl Outcome for MineSummary {
    fn exit(&self) -> Exit {
        exit_of(self.interrupted, self.has_failures())
    }
}

impl Display for MineSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let rows = self
            .repos
            .iter()
            .map(|r| {
                let n = [r.listed, r.unmerged, r.processed, r.instances, r.instances_with_tests, r.failed];
                std::iter::once(r.repo.clone()).chain(n.iter().map(u64::to_string)).collect()
            })
            .collect();
        let header = ["repo", "listed", "unmerged", "processed", "instances", "with tests", "failed"];
        writeln!(f, "{}", table(&header, rows))?;
        for r in &self.repos {
            if let Some(e) = &r.error {
                writeln!(f, "{}: error: {e}", r.repo)?;
            }
        }
        let mut kinds: Vec<_> = self.requests_by_kind.iter().collect();
        kinds.sort();
        writeln!(
            f,
            "requests: {} ({}), retries {}, rate-limit waits {}s, {:.1}s{}",
            self.requests_total,
            counts(kinds),
            self.retries,
            self.rate_limit_wait_secs,
            self.elapsed_secs,
            interrupted_note(self.interrupted)
        )
    }
}

impl Outcome for ImportSummary {
    fn exit(&self) -> Exit {
        Exit::Ok
    }
}

impl Display for ImportSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} rows, {} instances imported, {} already mined (published values recorded)",
            self.path.display(),
            self.rows,
            self.imported,
            self.kept_mined
        )
    }
}

impl Outcome for PinSummary {
    fn exit(&self) -> Exit {
        exit_of(self.interrupted, self.has_failures())
    }
}

impl Display for PinSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let rows = self
            .repos
            .iter()
            .map(|r| {
                let agree = if r.published_compared > 0 {
                    format!("{}/{}", r.published_agree, r.published_compared)
                } else {
                    "-".into()
                };
                let n = [r.pinned, r.not_found, r.unchanged, r.versions].map(|n| n.to_string());
                let mut row = vec![r.repo.clone()];
                row.extend(n);
                row.extend([r.recipe.clone(), agree]);
                row
            })
            .collect();
        let header = ["repo", "pinned", "not found", "unchanged", "versions", "recipe", "published agree"];
        writeln!(f, "{}", table(&header, rows))?;
        for r in &self.repos {
            if r.incomplete > 0 {
                writeln!(
                    f,
                    "{}: {} answers may be incomplete: the mirror is shallow and its history ends first (fetch more)",
                    r.repo, r.incomplete
                )?;
            }
            for d in &r.disagreements {
                writeln!(
                    f,
                    "{}: {}: pinned {} but published {}",
                    r.repo,
                    d.instance_id,
                    d.ours.as_deref().unwrap_or("nothing"),
                    d.published
                )?;
            }
            if let Some(e) = &r.error {
                writeln!(f, "{}: error: {e}", r.repo)?;
            }
        }
        // A first run on a real repository is dominated by the clone: seconds per instance then.
        let rate = match self.instances_per_second {
            r if r >= 1.0 => format!("{r:.0} instances/s"),
            r if r > 0.0 => format!("{:.1} s per instance", 1.0 / r),
            _ => "nothing to pin".to_string(),
        };
        writeln!(
            f,
            "{} pinned, {} without a version (each pin's reason: `report` for imported instances, else the pins table), {:.2}s ({rate}){}",
            self.pinned,
            self.not_found,
            self.seconds,
            interrupted_note(self.interrupted)
        )
    }
}

impl Outcome for BuildSummary {
    fn exit(&self) -> Exit {
        exit_of(self.interrupted, self.failed > 0)
    }
}

/// The median and 90th percentile of `values` (nearest rank), `None` when empty.
fn median_p90(mut values: Vec<f64>) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Some((rank(0.5), rank(0.9)))
}

impl Display for BuildSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.images.is_empty() {
            writeln!(f, "{:<8} {:<7} {:>10} {:>8}  image", "tier", "state", "adds", "time")?;
        }
        for i in &self.images {
            let size = i.size_bytes.map(|b| format!("{:.1} MB", b as f64 / 1e6)).unwrap_or_else(|| "-".into());
            let (tier, state): (&str, &str) = (i.tier.as_ref(), i.state.as_ref());
            writeln!(f, "{tier:<8} {state:<7} {size:>10} {:>7.1}s  {}", i.seconds, i.tag)?;
            for line in i.error.iter().flat_map(|e| e.lines()) {
                writeln!(f, "    {line}")?;
            }
        }
        let built_instances = || {
            self.images.iter().filter(|i| i.tier == crate::store::ImageTier::Instance && i.state == ImageState::Built)
        };
        let sizes = median_p90(built_instances().filter_map(|i| i.size_bytes).map(|b| b as f64 / 1e6).collect());
        let times = median_p90(built_instances().map(|i| i.seconds).collect());
        if let (Some((size, size90)), Some((time, time90))) = (sizes, times) {
            writeln!(
                f,
                "instance images built: {} — layer size median {size:.1} MB (p90 {size90:.1}), build time median {time:.1}s (p90 {time90:.1}s), checks included",
                built_instances().count()
            )?;
        }
        if !self.blocked.is_empty() {
            let some: Vec<&str> = self.blocked.iter().take(8).map(String::as_str).collect();
            let more = if self.blocked.len() > some.len() { ", …" } else { "" };
            writeln!(
                f,
                "{} instances not built: their environment image failed ({}{more})",
                self.blocked.len(),
                some.join(", ")
            )?;
        }
        let unpinned = if self.unpinned > 0 {
            format!(", {} without a version (run `pin`)", self.unpinned)
        } else {
            String::new()
        };
        writeln!(
            f,
            "{} built, {} reused, {} failed{unpinned}, {:.1}s{}",
            self.built,
            self.reused,
            self.failed,
            self.seconds,
            interrupted_note(self.interrupted)
        )
    }
}

impl Outcome for EvaluateSummary {
    fn exit(&self) -> Exit {
        // Unresolved is a result, not a failure; a prediction that could not be scored is.
        exit_of(self.interrupted, !self.problems.is_empty())
    }
}

impl Display for EvaluateSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let rows = self
            .predictions
            .iter()
            .map(|p| {
                let failing = p.fail_to_pass_failed.len() + p.pass_to_pass_failed.len();
                let mut note = match (&p.status, failing) {
                    (crate::evaluate::Status::Unresolved, n) if n > 0 => {
                        let first: Vec<&String> =
                            p.fail_to_pass_failed.iter().chain(&p.pass_to_pass_failed).take(2).collect();
                        format!("{n} not passing: {}", first.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                    }
                    _ => p.detail.as_deref().and_then(|d| d.lines().next()).unwrap_or_default().to_string(),
                };
                if !p.tampered.is_empty() {
                    note = format!("tampered (dropped {}) {note}", p.tampered.join(", "));
                }
                if p.unchanged {
                    note = format!("(scored before) {note}");
                }
                vec![
                    p.instance_id.clone(),
                    p.model.clone(),
                    p.status.to_string(),
                    p.applied_with.clone().unwrap_or_else(|| "-".into()),
                    format!("{:.1}s", p.seconds),
                    note.trim().to_string(),
                ]
            })
            .collect();
        if !self.predictions.is_empty() {
            let header = ["instance", "model", "outcome", "applied", "time", "note"];
            writeln!(f, "{}", table(&header, rows))?;
        }
        for p in &self.problems {
            writeln!(f, "{}: {}", p.at, p.message)?;
        }
        let overhead =
            self.mean_overhead_seconds.map(|o| format!(", overhead {o:.2}s per evaluation")).unwrap_or_default();
        writeln!(
            f,
            "run {}: {} submitted, {} scored now, {} scored before, {} not scored; {}; {} tampered{overhead}, {:.1}s{}",
            self.run_id,
            self.submitted,
            self.scored,
            self.unchanged,
            self.problems.len(),
            if self.by_status.is_empty() { "nothing scored".to_string() } else { counts(&self.by_status) },
            self.tampered,
            self.seconds,
            interrupted_note(self.interrupted)
        )?;
        if let Some(dir) =
            self.reports.iter().find(|p| p.extension().is_some_and(|e| e == "json")).and_then(|p| p.parent())
        {
            writeln!(f, "reports (SWE-bench format) → {}", dir.display())?;
        }
        Ok(())
    }
}

impl Outcome for crate::serve::ServeSummary {
    fn exit(&self) -> Exit {
        Exit::Ok
    }
}

impl Display for crate::serve::ServeSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "served {} instances on {}: {} evaluations, {} answered from the cache, {} turned away (429){}",
            self.instances,
            self.listened_on,
            self.evaluations,
            self.cache_hits,
            self.rejected,
            if self.swept_containers > 0 {
                format!("; {} leftover containers removed", self.swept_containers)
            } else {
                String::new()
            }
        )
    }
}

impl Outcome for ValidateSummary {
    fn exit(&self) -> Exit {
        // Rejections are results, not failures.
        exit_of(self.interrupted, false)
    }
}

fn agreement(a: &ListAgreement) -> String {
    if a.same {
        "same".into()
    } else {
        format!("{} missing, {} extra", a.missing.len(), a.extra.len())
    }
}

impl Display for ValidateSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for i in &self.instances {
            let lists = format!("F2P {} · P2P {} · flaky {}", i.fail_to_pass, i.pass_to_pass, i.flaky);
            let what = i.reason.map_or("curated", |r| r.as_str());
            writeln!(f, "{:<45} {:<26} {:<32} {:>7.1}s", i.instance_id, what, lists, i.seconds)?;
            for line in i.detail.iter().flat_map(|d| d.lines().take(8)) {
                writeln!(f, "    {line}")?;
            }
            if let Some(p) = &i.published {
                let (f2p, p2p) = (agreement(&p.fail_to_pass), agreement(&p.pass_to_pass));
                writeln!(f, "    published: FAIL_TO_PASS {f2p} · PASS_TO_PASS {p2p}")?;
            }
        }
        let reasons = if self.by_reason.is_empty() { String::new() } else { format!(" ({})", counts(&self.by_reason)) };
        let mut missing = String::new();
        if self.without_image > 0 {
            missing += &format!(", {} without an image (run `build`)", self.without_image);
        }
        if self.without_recipe > 0 {
            missing += &format!(
                ", {} whose image records no environment (run `build`: it records it without rebuilding)",
                self.without_recipe
            );
        }
        writeln!(
            f,
            "{} validated: {} curated, {} rejected{reasons}; {} unchanged{missing}",
            self.validated, self.curated, self.rejected, self.unchanged
        )?;
        if self.published_compared > 0 {
            writeln!(
                f,
                "published lists: FAIL_TO_PASS identical for {}/{n}, PASS_TO_PASS for {}/{n}",
                self.published_f2p_same,
                self.published_p2p_same,
                n = self.published_compared
            )?;
        }
        if let Some(o) = self.mean_overhead_seconds {
            writeln!(
                f,
                "{} runs, {o:.2} s overhead per run (container start to results, minus pytest), {:.1}s",
                self.runs, self.seconds
            )?;
        }
        if self.swept_containers > 0 {
            writeln!(f, "removed {} containers left by an earlier, killed run", self.swept_containers)?;
        }
        if self.interrupted {
            writeln!(f, "interrupted — run again to finish (validated instances are kept)")?;
        }
        Ok(())
    }
}

impl Outcome for ExportSummary {
    fn exit(&self) -> Exit {
        Exit::Ok
    }
}

impl Display for ExportSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            writeln!(f, "{:<5} {} rows → {}", file.split.as_str(), file.rows, file.path.display())?;
        }
        if !self.lite_rejections.is_empty() {
            writeln!(f, "not in lite: {}", counts(&self.lite_rejections))?;
        }
        if let Some(card) = &self.card {
            writeln!(f, "dataset card → {}", card.display())?;
        }
        Ok(())
    }
}

impl Outcome for RefreshSummary {
    fn exit(&self) -> Exit {
        exit_of(self.interrupted, !self.failures.is_empty())
    }
}

impl Display for RefreshSummary {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(m) = &self.mine {
            let n: u64 = m.repos.iter().map(|r| r.instances).sum();
            writeln!(f, "mine      {n} new or updated instances")?;
        }
        if let Some(p) = &self.pin {
            writeln!(f, "pin       {} pinned, {} without a version", p.pinned, p.not_found)?;
        }
        if let Some(b) = &self.build {
            writeln!(f, "build     {} built, {} reused, {} failed", b.built, b.reused, b.failed)?;
        }
        if let Some(v) = &self.validate {
            writeln!(
                f,
                "validate  {} validated: {} curated, {} rejected; {} unchanged",
                v.validated, v.curated, v.rejected, v.unchanged
            )?;
        }
        match &self.export {
            Some(e) => {
                for file in &e.files {
                    writeln!(f, "export    {:<5} {} rows → {}", file.split.as_str(), file.rows, file.path.display())?;
                }
            }
            None => writeln!(f, "export    nothing new")?,
        }
        for failure in &self.failures {
            writeln!(f, "failed: {failure}")?;
        }
        writeln!(f, "{:.1}s", self.seconds)
    }
}

impl Outcome for Report {
    fn exit(&self) -> Exit {
        Exit::Ok
    }
}

/// `same`, `-2 +1` (missing, extra), or `-` when not validated.
fn list_cell(a: Option<&ListAgreement>) -> String {
    match a {
        None => "-".into(),
        Some(a) if a.same => "same".into(),
        Some(a) => format!("-{} +{}", a.missing.len(), a.extra.len()),
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.compared == 0 {
            return writeln!(f, "no imported instances selected: `swegym-build import FILE` brings published rows in");
        }
        let rows = self
            .instances
            .iter()
            .map(|r| {
                let v = &r.version;
                let version = match (&v.published, &v.ours) {
                    (Some(p), Some(o)) if v.same => p.clone(),
                    (p, o) => format!("{} → {}", p.as_deref().unwrap_or("-"), o.as_deref().unwrap_or("none")),
                };
                let (f2p, p2p) = (list_cell(r.fail_to_pass.as_ref()), list_cell(r.pass_to_pass.as_ref()));
                let python = match (&r.python_wanted, &r.python_used) {
                    (Some(w), Some(u)) if w != u => format!("{w} → {u}"),
                    (_, Some(u)) => u.clone(),
                    (Some(w), None) => w.clone(),
                    (None, None) => "-".into(),
                };
                vec![r.instance_id.clone(), version, python, f2p, p2p, r.status.clone()]
            })
            .collect();
        if !self.instances.is_empty() {
            let header = [
                "instance",
                "version (published → ours)",
                "Python (wanted → used)",
                "FAIL_TO_PASS",
                "PASS_TO_PASS",
                "status",
            ];
            writeln!(f, "{}", table(&header, rows))?;
        }
        for r in self.instances.iter().filter(|r| r.disagrees()) {
            let mut notes = Vec::new();
            for (name, list) in [("FAIL_TO_PASS", &r.fail_to_pass), ("PASS_TO_PASS", &r.pass_to_pass)] {
                let Some(a) = list.as_ref().filter(|a| !a.same) else { continue };
                for (sign, ids) in [("missing", &a.missing), ("extra", &a.extra)] {
                    if !ids.is_empty() {
                        let more =
                            if ids.len() > 3 { format!(" (+{} more: --json)", ids.len() - 3) } else { String::new() };
                        notes.push(format!(
                            "{name} {sign}: {}{more}",
                            ids.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
            if let Some(why) = &r.reason {
                notes.push(why.clone());
            }
            for note in notes {
                writeln!(f, "{}: {note}", r.instance_id)?;
            }
        }
        writeln!(
            f,
            "{} imported instances: version same {}/{}; validated with published lists {}: FAIL_TO_PASS identical {}/{n}, PASS_TO_PASS {}/{n}; curated {}",
            self.compared,
            self.versions_same,
            self.versions_published,
            self.validated,
            self.fail_to_pass_same,
            self.pass_to_pass_same,
            self.curated,
            n = self.validated
        )
    }
}

/// The `status` funnel, one row per repository.
#[derive(serde::Serialize)]
#[serde(transparent)]
pub struct StatusReport(pub Vec<RepoStatus>);

impl Outcome for StatusReport {
    fn exit(&self) -> Exit {
        Exit::Ok
    }
}

/// Decimal units, as `build` and `docker images` print them.
fn human_bytes(b: u64) -> String {
    if b == 0 {
        "-".into()
    } else if b >= 1_000_000_000 {
        format!("{:.1} GB", b as f64 / 1e9)
    } else {
        format!("{:.0} MB", b as f64 / 1e6)
    }
}

/// `n`, or `n+k!` when k builds failed.
fn with_failed(built: u64, failed: u64) -> String {
    if failed > 0 {
        format!("{built}+{failed}!")
    } else {
        built.to_string()
    }
}

impl Display for StatusReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return writeln!(f, "no repositories yet: run `swegym-build mine --repo OWNER/NAME`");
        }
        let header = [
            "repo",
            "PRs",
            "merged",
            "linked",
            "instances",
            "with tests",
            "failed",
            "pinned",
            "no vers.",
            "versions",
            "agree",
            "envs",
            "images",
            "disk",
            "validated",
            "curated",
            "lite",
        ];
        let rows = self
            .0
            .iter()
            .map(|r| {
                let agree = if r.published_compared > 0 {
                    format!("{}/{}", r.published_agree, r.published_compared)
                } else {
                    "-".into()
                };
                let mut row = vec![r.repo.clone()];
                let funnel = [r.pulls_scanned, r.merged, r.linked, r.instances, r.instances_with_tests, r.failed];
                row.extend(funnel.iter().chain(&[r.pinned, r.pin_not_found, r.versions]).map(u64::to_string));
                row.extend([
                    agree,
                    with_failed(r.envs_built, r.envs_failed),
                    with_failed(r.images_built, r.images_failed),
                    human_bytes(r.image_bytes),
                ]);
                row.extend([r.validated, r.curated, r.lite].map(|n| n.to_string()));
                row
            })
            .collect();
        writeln!(f, "{}", table(&header, rows))?;
        for r in &self.0 {
            if !r.rejected.is_empty() {
                let why: Vec<String> = r.rejected.iter().map(|(k, n)| format!("{k} {n}")).collect();
                writeln!(f, "{}: not curated: {}", r.repo, why.join(", "))?;
            }
            if !r.python_substitutions.is_empty() {
                writeln!(f, "{}: Python substituted (wanted→used): {}", r.repo, r.python_substitutions.join(", "))?;
            }
            if let Some(e) = &r.last_error {
                writeln!(f, "{}: last error: {e}", r.repo)?;
            }
        }
        let disk: u64 = self.0.iter().map(|r| r.image_bytes).sum();
        writeln!(f, "images: {} on disk (environment and instance layers; `+N!` = failed builds)", human_bytes(disk))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::export::{ExportedFile, Format, Split};
    use crate::mine::RepoSummary;
    use crate::pin::RepoPinSummary;

    fn mine_summary() -> MineSummary {
        let mut moto = RepoSummary::default();
        moto.repo = "getmoto/moto".into();
        (moto.listed, moto.unmerged, moto.processed, moto.instances, moto.instances_with_tests) =
            (240, 31, 209, 57, 52);
        moto.listing_complete = true;
        let mut ghost = RepoSummary::default();
        ghost.repo = "ghost/repo".into();
        ghost.error = Some("repository ghost/repo not found at https://api.github.com".into());
        MineSummary {
            repos: vec![moto, ghost],
            requests_total: 412,
            requests_by_kind: HashMap::from([("pulls".to_string(), 3), ("issue".to_string(), 61)]),
            retries: 2,
            rate_limit_wait_secs: 0,
            elapsed_secs: 12.34,
            interrupted: false,
        }
    }

    #[test]
    fn mine_summary_table() {
        let s = mine_summary();
        insta::assert_snapshot!(s.to_string());
        assert_eq!(s.exit(), Exit::Partial, "a repository failed");
    }

    #[test]
    fn pin_summary_table() {
        let s = PinSummary {
            repos: vec![RepoPinSummary {
                repo: "psf/requests".into(),
                recipe: "embedded".into(),
                pinned: 5,
                not_found: 1,
                unchanged: 0,
                versions: 4,
                published_compared: 6,
                published_agree: 5,
                incomplete: 2,
                disagreements: vec![crate::pin::VersionDisagreement {
                    instance_id: "psf__requests-863".into(),
                    ours: None,
                    published: "0.14".into(),
                }],
                error: None,
            }],
            pinned: 5,
            not_found: 1,
            seconds: 0.25,
            instances_per_second: 24.0,
            interrupted: true,
        };
        insta::assert_snapshot!(s.to_string());
        assert_eq!(s.exit(), Exit::Interrupted);
        // Two real instances behind a one-minute clone: not "0 instances/s".
        let slow = PinSummary { instances_per_second: 2.0 / 67.6, ..s };
        assert!(slow.to_string().contains("(33.8 s per instance)"), "{slow}");
    }

    #[test]
    fn export_summary_lines() {
        let s = ExportSummary {
            files: vec![ExportedFile {
                split: Split::Lite,
                path: "ws/exports/lite.jsonl".into(),
                format: Format::Jsonl,
                rows: 3,
            }],
            card: Some("ws/exports/README.md".into()),
            chart: Some("ws/exports/repos.svg".into()),
            lite_rejections: BTreeMap::from([("patch_hunk_count".to_string(), 2), ("problem_has_url".to_string(), 1)]),
        };
        insta::assert_snapshot!(s.to_string());
    }

    #[test]
    fn median_and_p90_by_nearest_rank() {
        assert_eq!(median_p90(vec![]), None);
        assert_eq!(median_p90(vec![3.0]), Some((3.0, 3.0)));
        assert_eq!(median_p90((1..=10).rev().map(f64::from).collect()), Some((5.0, 9.0)));
    }

    #[test]
    fn report_table_and_notes() {
        use crate::report::{InstanceReport, VersionAgreement};
        let agree = |same: bool, missing: &[&str], extra: &[&str]| ListAgreement {
            same,
            missing: missing.iter().map(ToString::to_string).collect(),
            extra: extra.iter().map(ToString::to_string).collect(),
        };
        let r = Report {
            instances: vec![
                InstanceReport {
                    instance_id: "getmoto__moto-5876".into(),
                    repo: "getmoto/moto".into(),
                    version: VersionAgreement { published: Some("4.1".into()), ours: Some("4.1".into()), same: true },
                    fail_to_pass: Some(agree(true, &[], &[])),
                    pass_to_pass: Some(agree(false, &["tests/test_a.py::test_x"], &[])),
                    status: "curated".into(),
                    reason: None,
                    python_wanted: Some("3.12".into()),
                    python_used: Some("3.11".into()),
                },
                InstanceReport {
                    instance_id: "conan-io__conan-10686".into(),
                    repo: "conan-io/conan".into(),
                    version: VersionAgreement { published: Some("1.46".into()), ours: None, same: false },
                    fail_to_pass: None,
                    pass_to_pass: None,
                    status: "no version".into(),
                    reason: Some("shallow history: no tag is reachable from the commit".into()),
                    python_wanted: None,
                    python_used: None,
                },
            ],
            compared: 2,
            versions_published: 2,
            versions_same: 1,
            validated: 1,
            fail_to_pass_same: 1,
            pass_to_pass_same: 0,
            curated: 1,
        };
        insta::assert_snapshot!(r.to_string());
    }

    #[test]
    fn build_and_validate_summaries() {
        use crate::image::{ImageOutcome, ImageState};
        use crate::store::ImageTier;
        use crate::validate::{InstanceOutcome, PublishedAgreement, Reason};
        let image = |tier, tag: &str, state, error: Option<&str>| ImageOutcome {
            tier,
            tag: tag.into(),
            state,
            repo: Some("acme/shop".into()),
            instance_id: None,
            seconds: 12.34,
            size_bytes: Some(7_900_000),
            error: error.map(Into::into),
        };
        let b = BuildSummary {
            images: vec![
                image(ImageTier::Env, "swegym/env.acme__shop:1.2-ab12", ImageState::Reused, None),
                image(
                    ImageTier::Instance,
                    "swegym/eval.acme__shop-7:cd34",
                    ImageState::Failed,
                    Some("check collect failed\nE   ImportError"),
                ),
                image(ImageTier::Instance, "swegym/eval.acme__shop-8:ef56", ImageState::Built, None),
            ],
            built: 1,
            reused: 1,
            failed: 1,
            unpinned: 2,
            blocked: vec!["acme__shop-9".into(), "acme__shop-10".into()],
            seconds: 30.0,
            interrupted: false,
        };
        insta::assert_snapshot!("build_summary", b.to_string());
        assert_eq!(b.exit(), Exit::Partial);
        let agree =
            |same| ListAgreement { same, missing: vec![], extra: if same { vec![] } else { vec!["t::x".into()] } };
        let v = ValidateSummary {
            instances: vec![InstanceOutcome {
                instance_id: "acme__shop-7".into(),
                repo: "acme/shop".into(),
                status: "rejected".into(),
                reason: Some(Reason::Timeout),
                detail: Some("tests/test_wait.py::test_ready was running".into()),
                fail_to_pass: 0,
                pass_to_pass: 3,
                flaky: 1,
                seconds: 61.0,
                published: Some(PublishedAgreement { fail_to_pass: agree(true), pass_to_pass: agree(false) }),
            }],
            validated: 1,
            rejected: 1,
            by_reason: BTreeMap::from([("timeout".to_string(), 1)]),
            without_recipe: 1,
            runs: 6,
            mean_overhead_seconds: Some(1.12),
            seconds: 61.0,
            ..ValidateSummary::default()
        };
        insta::assert_snapshot!("validate_summary", v.to_string());
        assert_eq!(v.exit(), Exit::Ok, "rejections are results");
    }

    #[test]
    fn status_table_with_notes() {
        let moto = RepoStatus {
            repo: "getmoto/moto".into(),
            pulls_scanned: 240,
            merged: 209,
            linked: 60,
            instances: 57,
            instances_with_tests: 52,
            pinned: 50,
            pin_not_found: 2,
            versions: 3,
            published_compared: 1,
            published_agree: 1,
            envs_built: 3,
            envs_failed: 1,
            images_built: 48,
            image_bytes: 3_400_000_000,
            validated: 48,
            curated: 40,
            lite: 9,
            rejected: vec![("no_fail_to_pass".into(), 6), ("timeout".into(), 2)],
            python_substitutions: vec!["5.0 3.12→3.11".into()],
            ..RepoStatus::default()
        };
        let empty = RepoStatus { repo: "python/mypy".into(), ..RepoStatus::default() };
        insta::assert_snapshot!(StatusReport(vec![moto, empty]).to_string());
        insta::assert_snapshot!("status_empty", StatusReport(vec![]).to_string());
    }
}
