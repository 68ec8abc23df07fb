//! The GitHub REST adapter: octocrab for transport and authentication, and on top of it what
//! octocrab leaves to us — token rotation, primary and secondary rate limits, retries of 5xx and
//! transport faults, `Link` pagination and a count of requests by kind.
//!
//! Gotcha: octocrab's typed calls turn every non-2xx into an error without the headers, and it does
//! not retry a 403 secondary rate limit on its own; so every call here goes through `_get_with_headers`
//! and reads status, headers and body itself.

pub mod models;

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes_body::collect_body;
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT};
use http::StatusCode;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use crate::workspace::env;

/// What a request was for; requests are counted per kind.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RequestKind {
    PullList,
    Commits,
    Issue,
    Comments,
    Diff,
}

impl RequestKind {
    /// Every kind, in declaration order (the order of the counters).
    pub const ALL: &'static [RequestKind] = <Self as strum::VariantArray>::VARIANTS;

    /// The name used in summaries and the store, e.g. `pull_list`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Requests sent, per kind (retries included), and time spent waiting on rate limits.
#[derive(Debug, Default)]
pub struct RequestCounts {
    by_kind: [AtomicU64; 5],
    retries: AtomicU64,
    rate_limit_wait_ms: AtomicU64,
}

impl RequestCounts {
    pub fn get(&self, kind: RequestKind) -> u64 {
        self.by_kind[kind.index()].load(Ordering::Relaxed)
    }
    pub fn total(&self) -> u64 {
        RequestKind::ALL.iter().map(|k| self.get(*k)).sum()
    }
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn rate_limit_wait(&self) -> Duration {
        Duration::from_millis(self.rate_limit_wait_ms.load(Ordering::Relaxed))
    }
    /// A copy of the per-kind counts.
    pub fn snapshot(&self) -> Vec<(RequestKind, u64)> {
        RequestKind::ALL.iter().map(|k| (*k, self.get(*k))).collect()
    }
}

/// Errors from the GitHub adapter. None of them carries a token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("invalid GitHub API URL `{url}`: {detail} (set GITHUB_API_URL to e.g. https://api.github.com or https://HOST/api/v3)")]
    BadApiUrl { url: String, detail: String },
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
    #[error("{url}: not found (404/410) — wrong name, deleted, or invisible to this token")]
    NotFound { url: String },
    #[error("{url}: 401 Unauthorized — the GitHub token is invalid or expired (check GITHUB_TOKEN / GITHUB_TOKENS)")]
    Unauthorized { url: String },
    #[error("{url}: 403 Forbidden: {message}")]
    Forbidden { url: String, message: String },
    #[error("{url}: still rate-limited after {waits} back-offs; run again later")]
    RateLimited { url: String, waits: u32 },
    #[error("{url}: HTTP {status} after {attempts} attempts: {message}")]
    Server { url: String, status: u16, attempts: u32, message: String },
    #[error("{url}: HTTP {status}: {message}")]
    Http { url: String, status: u16, message: String },
    #[error("{url}: no answer after {attempts} attempts: {detail}")]
    Transport { url: String, attempts: u32, detail: String },
    #[error("{url}: malformed response ({detail})")]
    Malformed { url: String, detail: String },
}

impl GitHubError {
    /// Errors that concern the whole run, not one item: stop instead of skipping.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::BadApiUrl { .. } | Self::Client(_) | Self::Unauthorized { .. })
    }
}

/// A GitHub token; its `Debug` never shows the value.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Tokens from `GITHUB_TOKENS` (comma-separated, used in rotation), else `GITHUB_TOKEN`.
    pub fn from_env() -> Vec<Token> {
        let many = std::env::var(env::GITHUB_TOKENS).unwrap_or_default();
        let mut tokens: Vec<Token> = many.split(',').map(str::trim).filter(|t| !t.is_empty()).map(Token::new).collect();
        if tokens.is_empty() {
            if let Ok(t) = std::env::var(env::GITHUB_TOKEN) {
                if !t.trim().is_empty() {
                    tokens.push(Token::new(t.trim()));
                }
            }
        }
        tokens
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// How the client talks to GitHub.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub api_url: String,
    pub tokens: Vec<Token>,
    /// First wait after a secondary rate limit; doubles on each repeat (GitHub asks for ≥ 60 s).
    pub secondary_backoff_min: Duration,
    /// Back-offs on repeated secondary limits before the request is given up.
    pub max_rate_limit_waits: u32,
    /// First wait after a 5xx or transport fault; doubles on each repeat.
    pub retry_base: Duration,
    /// Attempts for a request that meets 5xx or transport faults.
    pub max_attempts: u32,
    /// Whole-request timeout (connect + headers + body).
    pub request_timeout: Duration,
}

impl ClientConfig {
    pub fn new(api_url: impl Into<String>, tokens: Vec<Token>) -> Self {
        Self {
            api_url: api_url.into(),
            tokens,
            secondary_backoff_min: Duration::from_secs(60),
            max_rate_limit_waits: 6,
            retry_base: Duration::from_secs(1),
            max_attempts: 5,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Receives human-readable notices such as "waiting for the rate limit".
pub type Notifier = Arc<dyn Fn(String) + Send + Sync>;

/// One page of a paginated list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The `rel="next"` URL from the `Link` header.
    pub next: Option<String>,
}

struct Slot {
    client: Octocrab,
    /// Last `x-ratelimit-remaining` seen; -1 = unknown.
    remaining: AtomicI64,
    /// Last `x-ratelimit-reset` seen (Unix seconds); 0 = unknown.
    reset_at: AtomicI64,
}

/// The GitHub REST client used by every stage.
pub struct GitHub {
    slots: Vec<Slot>,
    cfg: ClientConfig,
    counts: RequestCounts,
    /// A secondary rate limit pauses every request until this instant.
    paused_until: Mutex<Option<Instant>>,
    notify: Notifier,
}

const JSON: &str = "application/vnd.github+json";
const DIFF: &str = "application/vnd.github.diff";

impl GitHub {
    pub fn new(cfg: ClientConfig, notify: Notifier) -> Result<Self, GitHubError> {
        let bad = |detail: String| GitHubError::BadApiUrl { url: cfg.api_url.clone(), detail };
        let uri: http::Uri = cfg.api_url.parse().map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(bad("expected an http:// or https:// URL".into()));
        }
        let build = |token: Option<&Token>| -> Result<Octocrab, GitHubError> {
            let mut b = Octocrab::builder()
                .base_uri(cfg.api_url.as_str())
                .map_err(|e| bad(e.to_string()))?
                .add_header(HeaderName::from_static("x-github-api-version"), "2022-11-28".to_string())
                .set_connect_timeout(Some(Duration::from_secs(20)))
                .set_read_timeout(Some(cfg.request_timeout));
            if let Some(t) = token {
                b = b.personal_token(t.0.clone());
            }
            b.build().map_err(|e| GitHubError::Client(e.to_string()))
        };
        let mut slots = Vec::new();
        if cfg.tokens.is_empty() {
            slots.push(Slot { client: build(None)?, remaining: AtomicI64::new(-1), reset_at: AtomicI64::new(0) });
        }
        for t in &cfg.tokens {
            slots.push(Slot { client: build(Some(t))?, remaining: AtomicI64::new(-1), reset_at: AtomicI64::new(0) });
        }
        Ok(Self { slots, cfg, counts: RequestCounts::default(), paused_until: Mutex::new(None), notify })
    }

    pub fn counts(&self) -> &RequestCounts {
        &self.counts
    }

    pub fn api_url(&self) -> &str {
        &self.cfg.api_url
    }

    /// GET a JSON document.
    pub async fn get_json<T: DeserializeOwned>(&self, kind: RequestKind, url: &str) -> Result<T, GitHubError> {
        let (_, body) = self.send(kind, url, JSON).await?;
        serde_json::from_slice(&body)
            .map_err(|e| GitHubError::Malformed { url: url.to_string(), detail: e.to_string() })
    }

    /// GET one page of a JSON list, with the next page's URL.
    pub async fn get_page<T: DeserializeOwned>(&self, kind: RequestKind, url: &str) -> Result<Page<T>, GitHubError> {
        let (headers, body) = self.send(kind, url, JSON).await?;
        let items = serde_json::from_slice(&body)
            .map_err(|e| GitHubError::Malformed { url: url.to_string(), detail: e.to_string() })?;
        let next = headers.get(http::header::LINK).and_then(|v| v.to_str().ok()).and_then(next_link);
        Ok(Page { items, next })
    }

    /// GET every page of a JSON list, following `Link: rel="next"` (at most `max_pages`).
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        kind: RequestKind,
        url: &str,
        max_pages: usize,
    ) -> Result<Vec<T>, GitHubError> {
        let mut out = Vec::new();
        let mut next = Some(url.to_string());
        let mut pages = 0;
        while let Some(u) = next.take() {
            let page: Page<T> = self.get_page(kind, &u).await?;
            out.extend(page.items);
            pages += 1;
            if pages < max_pages {
                next = page.next;
            }
        }
        Ok(out)
    }

    /// GET a pull request as a unified diff (`Accept: application/vnd.github.diff`).
    pub async fn get_diff(&self, url: &str) -> Result<String, GitHubError> {
        let (_, body) = self.send(RequestKind::Diff, url, DIFF).await?;
        String::from_utf8(body)
            .map_err(|e| GitHubError::Malformed { url: url.to_string(), detail: format!("diff is not UTF-8: {e}") })
    }

    /// Sends a GET, waiting out rate limits and retrying transient faults.
    async fn send(
        &self,
        kind: RequestKind,
        url: &str,
        accept: &'static str,
    ) -> Result<(HeaderMap, Vec<u8>), GitHubError> {
        let request_url = url;
        // Errors name the whole URL, API root included.
        let full;
        let url = if url.starts_with('/') {
            full = format!("{}{url}", self.cfg.api_url.trim_end_matches('/'));
            full.as_str()
        } else {
            url
        };
        let mut attempts: u32 = 0;
        let mut limit_waits: u32 = 0;
        loop {
            self.wait_for_pause().await;
            let slot = self.pick_slot().await;
            if attempts > 0 || limit_waits > 0 {
                self.counts.retries.fetch_add(1, Ordering::Relaxed);
            }
            self.counts.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
            attempts += 1;
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static(accept));
            let sent = tokio::time::timeout(self.cfg.request_timeout, async {
                let resp = slot
                    .client
                    ._get_with_headers(request_url, Some(headers))
                    .await
                    .map_err(|e| describe_octocrab_error(&e))?;
                let (parts, body) = resp.into_parts();
                let bytes = collect_body(body).await?;
                Ok::<_, String>((parts.status, parts.headers, bytes))
            })
            .await;
            let sent = match sent {
                Ok(r) => r,
                Err(_) => Err(format!("timed out after {:?}", self.cfg.request_timeout)),
            };
            let (status, headers, body) = match sent {
                Ok(r) => r,
                Err(detail) => {
                    self.retry_or_fail(url, attempts, || GitHubError::Transport { url: url.into(), attempts, detail })
                        .await?;
                    continue;
                }
            };
            let remaining = header_i64(&headers, "x-ratelimit-remaining");
            if let Some(r) = remaining {
                slot.remaining.store(r, Ordering::Relaxed);
            }
            if let Some(r) = header_i64(&headers, "x-ratelimit-reset") {
                slot.reset_at.store(r, Ordering::Relaxed);
            }
            if status.is_success() {
                return Ok((headers, body));
            }
            let message = error_message(&body);
            match status {
                StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
                    if remaining == Some(0) {
                        // Primary limit: this token is spent until its reset; pick_slot waits or rotates.
                        attempts -= 1;
                        continue;
                    }
                    let retry_after = header_i64(&headers, "retry-after").map(|s| Duration::from_secs(s.max(0) as u64));
                    let lower = message.to_ascii_lowercase();
                    let secondary = retry_after.is_some()
                        || status == StatusCode::TOO_MANY_REQUESTS
                        || lower.contains("rate limit")
                        || lower.contains("abuse");
                    if !secondary {
                        return Err(GitHubError::Forbidden { url: url.into(), message });
                    }
                    limit_waits += 1;
                    attempts -= 1;
                    if limit_waits > self.cfg.max_rate_limit_waits {
                        return Err(GitHubError::RateLimited { url: url.into(), waits: limit_waits - 1 });
                    }
                    let backoff = self.cfg.secondary_backoff_min.saturating_mul(1 << (limit_waits - 1).min(10));
                    let wait = retry_after.map_or(backoff, |r| r.max(backoff)).min(Duration::from_secs(3600));
                    (self.notify)(format!(
                        "secondary rate limit (HTTP {}): pausing all requests for {}s",
                        status.as_u16(),
                        wait.as_secs()
                    ));
                    tracing::warn!(url, status = status.as_u16(), wait_secs = wait.as_secs(), "secondary rate limit");
                    let until = Instant::now() + wait;
                    if let Ok(mut p) = self.paused_until.lock() {
                        if p.is_none_or(|old| old < until) {
                            *p = Some(until);
                        }
                    }
                }
                StatusCode::UNAUTHORIZED => return Err(GitHubError::Unauthorized { url: url.into() }),
                StatusCode::NOT_FOUND | StatusCode::GONE => return Err(GitHubError::NotFound { url: url.into() }),
                s if s.is_server_error() => {
                    self.retry_or_fail(url, attempts, || GitHubError::Server {
                        url: url.into(),
                        status: s.as_u16(),
                        attempts,
                        message: message.clone(),
                    })
                    .await?;
                }
                s => return Err(GitHubError::Http { url: url.into(), status: s.as_u16(), message }),
            }
        }
    }

    /// Sleeps before the next attempt, or gives up with `err` when attempts are exhausted.
    async fn retry_or_fail(
        &self,
        url: &str,
        attempts: u32,
        err: impl FnOnce() -> GitHubError,
    ) -> Result<(), GitHubError> {
        if attempts >= self.cfg.max_attempts {
            return Err(err());
        }
        let wait = self.cfg.retry_base.saturating_mul(1 << (attempts - 1).min(6)).min(Duration::from_secs(120));
        tracing::debug!(url, attempts, wait_ms = wait.as_millis() as u64, "retrying");
        tokio::time::sleep(wait).await;
        Ok(())
    }

    async fn wait_for_pause(&self) {
        loop {
            let until = self.paused_until.lock().ok().and_then(|p| *p);
            match until {
                Some(u) if u > Instant::now() => {
                    let d = u - Instant::now();
                    self.counts.rate_limit_wait_ms.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
                    tokio::time::sleep_until(u).await;
                }
                _ => return,
            }
        }
    }

    /// The token with the most budget left; when every token is spent, waits for the first reset.
    async fn pick_slot(&self) -> &Slot {
        loop {
            let now = unix_now();
            let usable =
                |s: &Slot| s.remaining.load(Ordering::Relaxed) != 0 || s.reset_at.load(Ordering::Relaxed) <= now;
            let budget = |s: &Slot| {
                if s.reset_at.load(Ordering::Relaxed) <= now && s.remaining.load(Ordering::Relaxed) == 0 {
                    i64::MAX // reset has passed: full budget again
                } else {
                    match s.remaining.load(Ordering::Relaxed) {
                        -1 => i64::MAX - 1,
                        r => r,
                    }
                }
            };
            // Ties go to the first token, so a single token is used until it runs low.
            let mut best: Option<(&Slot, i64)> = None;
            for s in self.slots.iter().filter(|s| usable(s)) {
                let b = budget(s);
                if best.is_none_or(|(_, bb)| b > bb) {
                    best = Some((s, b));
                }
            }
            if let Some((slot, _)) = best {
                return slot;
            }
            let reset = self.slots.iter().map(|s| s.reset_at.load(Ordering::Relaxed)).min().unwrap_or(now);
            let wait = Duration::from_secs((reset - now).max(0) as u64 + 1);
            let at = chrono::DateTime::from_timestamp(reset, 0)
                .map(|t| t.format("%H:%M:%S UTC").to_string())
                .unwrap_or_default();
            (self.notify)(format!(
                "primary rate limit: {} token(s) spent, waiting {}s until {at}",
                self.slots.len(),
                wait.as_secs()
            ));
            tracing::warn!(wait_secs = wait.as_secs(), "primary rate limit reached");
            self.counts.rate_limit_wait_ms.fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            for s in &self.slots {
                if s.reset_at.load(Ordering::Relaxed) <= unix_now() {
                    s.remaining.store(-1, Ordering::Relaxed);
                }
            }
        }
    }
}

mod bytes_body {
    use http_body_util::BodyExt;

    pub async fn collect_body<B>(body: B) -> Result<Vec<u8>, String>
    where
        B: http_body::Body,
        B::Error: std::fmt::Display,
    {
        body.collect().await.map(|c| c.to_bytes().to_vec()).map_err(|e| format!("reading the body: {e}"))
    }
}

fn describe_octocrab_error(e: &octocrab::Error) -> String {
    // The Display of hyper/octocrab errors names the failure, never request headers.
    // hyper nests the same words several times ("client error (Connect): client error (Connect)"):
    // keep each source only if it adds something.
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<models::ErrorBody>(body) {
        Ok(b) if !b.message.is_empty() => b.message,
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_from_github_header() {
        let h = r#"<https://api.github.com/repositories/1/pulls?page=2>; rel="next", <https://api.github.com/repositories/1/pulls?page=5>; rel="last""#;
        assert_eq!(next_link(h).as_deref(), Some("https://api.github.com/repositories/1/pulls?page=2"));
        assert_eq!(next_link(r#"<https://x/p?page=1>; rel="prev""#), None);
    }

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(format!("{:?}", Token::new("ghp_secret")), "Token(***)");
        let cfg = ClientConfig::new("https://api.github.com", vec![Token::new("ghp_secret")]);
        assert!(!format!("{cfg:?}").contains("ghp_secret"));
    }

    #[test]
    fn bad_api_url_is_reported() {
        let e = GitHub::new(ClientConfig::new("not a url", vec![]), Arc::new(|_| {})).err().unwrap();
        assert!(e.to_string().contains("GITHUB_API_URL"), "{e}");
    }
}
