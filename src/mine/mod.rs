//! The `mine` stage: merged pull requests that resolve issues → raw task instances.
//!
//! Per repository: list closed PRs newest-updated first (100 a page) and stop at the cursor of the
//! last complete listing; an unmerged PR costs nothing beyond its list page. Each merged PR costs one
//! request for its commits (the link text includes commit messages); only PRs that name an issue go
//! on to the issue, the diff and — when the issue has any — its comments. Results reach the store
//! through one writer in small transactions, so a killed run loses only the PRs in flight, and the
//! cursor moves only after a listing completed.

pub mod diff;
pub mod links;
pub mod problem;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cancel::Cancel;
use crate::context::Context;
use crate::github::models::{IssueComment, IssueDetail, PullCommit, PullSummary};
use crate::github::{GitHub, GitHubError, Page, RequestKind};
use crate::model::{RawInstance, RepoName};
use crate::progress::Progress;
use crate::store::{
    ts, InstanceFilter, IssueRecord, KnownPull, MinedBatch, PullOutcome, PullRecord, Store, StoreError,
};

/// What to mine.
#[derive(Debug, Clone)]
pub struct MineOptions {
    pub repos: Vec<RepoName>,
    /// Ignore PRs created before this instant (and stop listing there).
    pub since: Option<DateTime<Utc>>,
    /// List at most this many PRs per repository (a partial scan: the cursor stays where it was).
    pub max_pulls: Option<usize>,
    /// PRs processed at once.
    pub jobs: usize,
    /// Re-list from the newest PR down instead of stopping at the cursor.
    pub full: bool,
}

/// Errors that stop the whole run. Everything else is recorded per repository or per PR.
#[derive(Debug, thiserror::Error)]
pub enum MineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    GitHub(GitHubError),
}

/// What a run did for one repository.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoSummary {
    pub repo: String,
    pub listed: u64,
    pub unmerged: u64,
    /// Merged PRs processed in this run (new, edited, or failed before).
    pub processed: u64,
    pub no_link: u64,
    pub no_issue: u64,
    pub no_patch: u64,
    pub instances: u64,
    pub instances_with_tests: u64,
    pub failed: u64,
    /// Whether the listing reached the cursor (or the end) and moved the cursor.
    pub listing_complete: bool,
    pub error: Option<String>,
    pub requests: HashMap<String, u64>,
    /// The cursor to store when the listing completed.
    #[serde(skip)]
    new_cursor: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MineSummary {
    pub repos: Vec<RepoSummary>,
    pub requests_total: u64,
    pub requests_by_kind: HashMap<String, u64>,
    pub retries: u64,
    pub rate_limit_wait_secs: u64,
    pub elapsed_secs: f64,
    pub interrupted: bool,
}

impl MineSummary {
    /// Repositories or PRs that failed in this run.
    pub fn has_failures(&self) -> bool {
        self.repos.iter().any(|r| r.error.is_some() || r.failed > 0)
    }
}

/// The request for the next page of the PR listing, in flight while PRs are processed.
type PageFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Page<PullSummary>, GitHubError>> + Send>>;

/// A merged PR to process.
#[derive(Debug, Clone)]
struct Candidate {
    repo: RepoName,
    number: u64,
    title: String,
    body: String,
    created_at: String,
    updated_at: String,
    merged_at: Option<String>,
    base_sha: String,
    content_hash: String,
}

impl Candidate {
    fn from_summary(repo: &RepoName, p: &PullSummary) -> Self {
        let title = p.title.clone().unwrap_or_default();
        let body = p.body.clone().unwrap_or_default();
        let merged_at = p.merged_at.map(ts);
        let content_hash = content_hash(&title, &body, merged_at.as_deref(), &p.base.sha);
        Self {
            repo: repo.clone(),
            number: p.number,
            title,
            body,
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            merged_at,
            base_sha: p.base.sha.clone(),
            content_hash,
        }
    }

    fn from_record(repo: &RepoName, r: &PullRecord) -> Self {
        Self {
            repo: repo.clone(),
            number: r.number,
            title: r.title.clone(),
            body: r.body.clone(),
            created_at: r.created_at.clone(),
            updated_at: r.updated_at.clone(),
            merged_at: r.merged_at.clone(),
            base_sha: r.base_sha.clone(),
            content_hash: r.content_hash.clone(),
        }
    }

    fn record(&self, outcome: PullOutcome) -> PullRecord {
        PullRecord {
            repo: self.repo.to_string(),
            number: self.number,
            title: self.title.clone(),
            body: self.body.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            merged_at: self.merged_at.clone(),
            base_sha: self.base_sha.clone(),
            outcome,
            detail: None,
            referenced: Vec::new(),
            issue_numbers: Vec::new(),
            first_commit_at: None,
            content_hash: self.content_hash.clone(),
        }
    }
}

/// FNV-1a over the fields that decide a PR's outcome; stable across builds and platforms.
fn content_hash(title: &str, body: &str, merged_at: Option<&str>, base_sha: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [title, "\u{0}", body, "\u{0}", merged_at.unwrap_or("-"), "\u{0}", base_sha] {
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The result of processing one merged PR.
struct Processed {
    record: PullRecord,
    new_issues: Vec<IssueRecord>,
    instance: Option<RawInstance>,
}

type IssueCache = Arc<Mutex<HashMap<u64, IssueRecord>>>;

/// Runs the stage over every repository in `opts`. A repository that fails is reported in its
/// summary and the others go on; only store failures, a bad token or a bad API URL stop the run.
pub async fn mine(cx: &mut Context, gh: Arc<GitHub>, opts: &MineOptions) -> Result<MineSummary, MineError> {
    let Context { store, progress, cancel, .. } = cx;
    let started = Instant::now();
    let mut summary = MineSummary::default();
    for repo in &opts.repos {
        if cancel.is_cancelled() {
            summary.interrupted = true;
            break;
        }
        let before = gh.counts().snapshot();
        let mut repo_summary = mine_repo(store, gh.clone(), repo, opts, progress, cancel).await?;
        let after = gh.counts().snapshot();
        let used: Vec<(&str, u64)> = after.iter().zip(&before).map(|((k, a), (_, b))| (k.as_str(), a - b)).collect();
        repo_summary.requests = used.iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.to_string(), *n)).collect();
        summary.interrupted |= cancel.is_cancelled();
        store.finish_repo_run(
            &repo.to_string(),
            repo_summary.new_cursor.as_deref(),
            repo_summary.error.as_deref(),
            &used,
        )?;
        // The Lite membership of what was mined, computed once for status, the lite split and the card.
        let filter = InstanceFilter { repos: vec![repo.clone()], instances: Vec::new() };
        store.update_lite(&filter)?;
        summary.repos.push(repo_summary);
    }
    let counts = gh.counts();
    summary.requests_total = counts.total();
    summary.requests_by_kind =
        counts.snapshot().into_iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.as_str().to_string(), n)).collect();
    summary.retries = counts.retries();
    summary.rate_limit_wait_secs = counts.rate_limit_wait().as_secs();
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Collects results and writes them in batches: at most `MAX_BATCH` PRs or `MAX_DELAY` old.
struct BatchWriter {
    batch: MinedBatch,
    since: Instant,
}

const MAX_BATCH: usize = 256;
const MAX_DELAY: Duration = Duration::from_millis(500);

impl BatchWriter {
    fn new() -> Self {
        Self { batch: MinedBatch::default(), since: Instant::now() }
    }

    fn push(&mut self, store: &mut Store, p: Processed) -> Result<(), StoreError> {
        self.batch.pulls.push(p.record);
        self.batch.issues.extend(p.new_issues);
        self.batch.instances.extend(p.instance);
        self.maybe_flush(store)
    }

    fn push_record(&mut self, store: &mut Store, r: PullRecord) -> Result<(), StoreError> {
        self.batch.pulls.push(r);
        self.maybe_flush(store)
    }

    fn maybe_flush(&mut self, store: &mut Store) -> Result<(), StoreError> {
        if self.batch.len() >= MAX_BATCH || self.since.elapsed() >= MAX_DELAY {
            self.flush(store)?;
        }
        Ok(())
    }

    fn flush(&mut self, store: &mut Store) -> Result<(), StoreError> {
        let batch = std::mem::take(&mut self.batch);
        store.write_mined(&batch)?;
        self.since = Instant::now();
        Ok(())
    }
}

async fn mine_repo(
    store: &mut Store,
    gh: Arc<GitHub>,
    repo: &RepoName,
    opts: &MineOptions,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<RepoSummary, MineError> {
    let name = repo.to_string();
    let mut summary = RepoSummary { repo: name.clone(), ..Default::default() };
    let known: HashMap<u64, KnownPull> = store.known_pulls(&name)?;
    let cache: IssueCache = Arc::new(Mutex::new(store.known_issues(&name)?));
    let cursor = if opts.full { None } else { store.pulls_cursor(&name)? };
    let cursor_at: Option<DateTime<Utc>> = cursor.as_deref().and_then(|c| c.parse().ok());
    let stop_before = match (cursor_at, opts.since) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };

    let bar = progress.bar(&name);
    let mut queue: VecDeque<Candidate> =
        store.pulls(&name, true)?.iter().map(|r| Candidate::from_record(repo, r)).collect();
    let mut queued: HashSet<u64> = queue.iter().map(|c| c.number).collect();
    let mut total_to_process = queue.len() as u64;

    let jobs = opts.jobs.max(1);
    let mut next_url = Some(format!(
        "/repos/{}/{}/pulls?state=closed&sort=updated&direction=desc&per_page=100",
        repo.owner(),
        repo.name()
    ));
    let mut listing_complete = false;
    let mut newest_seen: Option<DateTime<Utc>> = None;
    let mut page_fut: Option<PageFuture> = None;
    // Spawned, so requests go on while the writer is busy; dropping the set (Ctrl-C, a fatal
    // error) aborts whatever is still in flight.
    let mut in_flight: tokio::task::JoinSet<Result<Processed, GitHubError>> = tokio::task::JoinSet::new();
    let mut writer = BatchWriter::new();
    let mut fatal: Option<GitHubError> = None;

    loop {
        while in_flight.len() < jobs {
            let Some(c) = queue.pop_front() else { break };
            let gh = gh.clone();
            let cache = cache.clone();
            in_flight.spawn(async move { process(&gh, c, &cache).await });
        }
        // Keep a page ahead of the workers, no more: memory stays flat on huge repos.
        if page_fut.is_none() && queue.len() < 2 * jobs + 100 && !cancel.is_cancelled() {
            if let Some(url) = next_url.take() {
                let gh = gh.clone();
                page_fut = Some(Box::pin(async move { gh.get_page::<PullSummary>(RequestKind::PullList, &url).await }));
            }
        }
        if page_fut.is_none() && in_flight.is_empty() && queue.is_empty() {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                // Results in flight are lost; the next run does them again.
                break;
            }
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                let result = joined.unwrap_or_else(|e| Err(GitHubError::Client(format!("a worker task failed: {e}"))));
                match result {
                    Ok(p) => {
                        tally(&mut summary, &p);
                        writer.push(store, p)?;
                    }
                    Err(e) => {
                        fatal = Some(e);
                        break;
                    }
                }
                bar.set_position(summary.processed);
                bar.set_message(format!("listed {} · instances {} · failed {}", summary.listed, summary.instances, summary.failed));
            }
            page = async { match page_fut.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if page_fut.is_some() => {
                page_fut = None;
                let page = match page {
                    Ok(p) => p,
                    Err(e) if e.is_fatal() => { fatal = Some(e); break; }
                    Err(e) => {
                        let msg = if matches!(e, GitHubError::NotFound { .. }) && summary.listed == 0 {
                            format!("repository {name} not found at {} (or not visible to this token): {e}", gh.api_url())
                        } else {
                            format!("listing pull requests failed: {e}")
                        };
                        tracing::info!(repo = %name, "{msg}");
                        progress.println(&format!("error: {name}: {msg}"));
                        summary.error = Some(msg);
                        continue;
                    }
                };
                let mut reached_stop = false;
                for p in &page.items {
                    if stop_before.is_some_and(|s| p.updated_at < s) {
                        reached_stop = true;
                        break;
                    }
                    if opts.max_pulls.is_some_and(|m| summary.listed as usize >= m) {
                        break;
                    }
                    if opts.since.is_some_and(|s| p.created_at < s) {
                        continue;
                    }
                    summary.listed += 1;
                    newest_seen = Some(newest_seen.map_or(p.updated_at, |n| n.max(p.updated_at)));
                    let c = Candidate::from_summary(repo, p);
                    let prior = known.get(&p.number);
                    let unchanged = prior.is_some_and(|k| k.content_hash == c.content_hash && k.outcome != PullOutcome::Failed);
                    if p.merged_at.is_none() {
                        summary.unmerged += 1;
                        if !unchanged {
                            writer.push_record(store, c.record(PullOutcome::Unmerged))?;
                        }
                    } else if !unchanged && queued.insert(p.number) {
                        total_to_process += 1;
                        queue.push_back(c);
                    }
                }
                crate::progress::set_total(&bar, total_to_process, "PRs");
                bar.set_message(format!("listed {} · instances {} · failed {}", summary.listed, summary.instances, summary.failed));
                let truncated = opts.max_pulls.is_some_and(|m| summary.listed as usize >= m);
                if reached_stop || (page.next.is_none() && !truncated) {
                    listing_complete = true;
                } else if !truncated {
                    next_url = page.next;
                }
            }
        }
    }
    writer.flush(store)?;
    if let Some(e) = fatal {
        bar.abandon_with_message(format!("stopped: {e}"));
        return Err(MineError::GitHub(e));
    }
    summary.listing_complete = listing_complete && !cancel.is_cancelled();
    if summary.listing_complete {
        let new_cursor = match (newest_seen, cursor_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        summary.new_cursor = new_cursor.map(ts);
    }
    bar.finish_with_message(format!(
        "listed {} · processed {} · instances {} ({} with tests) · failed {}",
        summary.listed, summary.processed, summary.instances, summary.instances_with_tests, summary.failed
    ));
    Ok(summary)
}

fn tally(s: &mut RepoSummary, p: &Processed) {
    s.processed += 1;
    match p.record.outcome {
        PullOutcome::Unmerged => s.unmerged += 1,
        PullOutcome::NoLink => s.no_link += 1,
        PullOutcome::NoIssue => s.no_issue += 1,
        PullOutcome::NoPatch => s.no_patch += 1,
        PullOutcome::Instance => {
            s.instances += 1;
            if p.instance.as_ref().is_some_and(|i| !i.test_patch.is_empty()) {
                s.instances_with_tests += 1;
            }
        }
        PullOutcome::Failed => s.failed += 1,
    }
}

/// Processes one merged PR. Item-level failures come back as a `Failed` record; only errors that
/// concern the whole run (bad token, bad API URL) are returned as `Err`.
async fn process(gh: &GitHub, c: Candidate, cache: &IssueCache) -> Result<Processed, GitHubError> {
    match process_inner(gh, &c, cache).await {
        Ok(p) => Ok(p),
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => {
            tracing::warn!(repo = %c.repo, pull = c.number, "skipped for now: {e}");
            let mut record = c.record(PullOutcome::Failed);
            record.detail = Some(e.to_string());
            Ok(Processed { record, new_issues: Vec::new(), instance: None })
        }
    }
}

async fn process_inner(gh: &GitHub, c: &Candidate, cache: &IssueCache) -> Result<Processed, GitHubError> {
    let (owner, name) = (c.repo.owner(), c.repo.name());
    // GitHub lists at most 250 commits of a PR, 100 a page.
    let commits: Vec<PullCommit> = gh
        .get_all(RequestKind::Commits, &format!("/repos/{owner}/{name}/pulls/{}/commits?per_page=100", c.number), 3)
        .await?;
    let text = links::link_text(&c.title, &c.body, commits.iter().map(|m| m.commit.message.as_str()));
    let referenced = links::resolved_issue_numbers(&text, &c.repo);
    let first_commit_at = commits.first().and_then(|m| m.commit.author.as_ref()).and_then(|a| a.date);
    let mut record = c.record(PullOutcome::NoLink);
    record.referenced = referenced.clone();
    record.first_commit_at = first_commit_at.map(ts);
    if referenced.is_empty() {
        return Ok(Processed { record, new_issues: Vec::new(), instance: None });
    }

    let mut new_issues = Vec::new();
    let mut issues: Vec<IssueRecord> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for &n in &referenced {
        if n == c.number {
            notes.push(format!("#{n} is this pull request"));
            continue;
        }
        let cached = cache.lock().ok().and_then(|m| m.get(&n).cloned());
        let issue = match cached {
            Some(i) => i,
            None => {
                match gh.get_json::<IssueDetail>(RequestKind::Issue, &format!("/repos/{owner}/{name}/issues/{n}")).await
                {
                    Ok(d) => {
                        let rec = IssueRecord {
                            repo: c.repo.to_string(),
                            number: d.number,
                            is_pull: d.pull_request.is_some(),
                            title: d.title.unwrap_or_default(),
                            body: d.body.unwrap_or_default(),
                            comment_count: d.comments,
                        };
                        if let Ok(mut m) = cache.lock() {
                            m.insert(n, rec.clone());
                        }
                        new_issues.push(rec.clone());
                        rec
                    }
                    Err(GitHubError::NotFound { .. }) => {
                        notes.push(format!("#{n} not found"));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if issue.is_pull {
            notes.push(format!("#{n} is a pull request"));
            continue;
        }
        issues.push(issue);
    }
    record.issue_numbers = issues.iter().map(|i| i.number).collect();
    if !notes.is_empty() {
        record.detail = Some(notes.join("; "));
    }
    if issues.is_empty() {
        record.outcome = PullOutcome::NoIssue;
        return Ok(Processed { record, new_issues, instance: None });
    }

    let diff = gh.get_diff(&format!("/repos/{owner}/{name}/pulls/{}", c.number)).await?;
    let split = diff::split_diff(&diff);
    if split.patch.is_empty() {
        record.outcome = PullOutcome::NoPatch;
        record.detail =
            Some(if split.test_files.is_empty() { "empty diff".into() } else { "only test files changed".into() });
        return Ok(Processed { record, new_issues, instance: None });
    }

    let mut texts = Vec::with_capacity(issues.len());
    for issue in &issues {
        let comments = match (issue.comment_count, first_commit_at) {
            (0, _) | (_, None) => Vec::new(),
            (_, Some(first)) => early_comments(gh, &c.repo, issue.number, first).await?,
        };
        texts.push(problem::IssueText {
            number: issue.number,
            title: issue.title.clone(),
            body: issue.body.clone(),
            comments: comments.into_iter().map(|m| (m.updated_at, m.body.unwrap_or_default())).collect(),
        });
    }
    let instance = RawInstance {
        instance_id: c.repo.instance_id(c.number),
        repo: c.repo.to_string(),
        pull_number: c.number,
        issue_numbers: record.issue_numbers.clone(),
        base_commit: c.base_sha.clone(),
        patch: split.patch,
        test_patch: split.test_patch,
        problem_statement: problem::problem_statement(&texts),
        hints_text: problem::hints_text(&texts, first_commit_at),
        created_at: c.created_at.clone(),
    };
    record.outcome = PullOutcome::Instance;
    Ok(Processed { record, new_issues, instance: Some(instance) })
}

/// An issue's comments up to and including the first one not older than `first_commit`
/// (later pages cannot contribute hints, so they are not requested).
async fn early_comments(
    gh: &GitHub,
    repo: &RepoName,
    issue: u64,
    first_commit: DateTime<Utc>,
) -> Result<Vec<IssueComment>, GitHubError> {
    let mut out = Vec::new();
    let mut next = Some(format!("/repos/{}/{}/issues/{issue}/comments?per_page=100", repo.owner(), repo.name()));
    while let Some(url) = next.take() {
        let page: Page<IssueComment> = gh.get_page(RequestKind::Comments, &url).await?;
        let done = page.items.iter().any(|m| m.updated_at >= first_commit);
        out.extend(page.items);
        if !done {
            next = page.next;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_changes_with_body_and_merge() {
        let a = content_hash("t", "b", None, "s");
        assert_eq!(a, content_hash("t", "b", None, "s"));
        assert_ne!(a, content_hash("t", "b2", None, "s"));
        assert_ne!(a, content_hash("t", "b", Some("2024-01-01T00:00:00Z"), "s"));
        assert_ne!(content_hash("ab", "", None, "s"), content_hash("a", "b", None, "s"));
    }
}
