//! `serve`: the reward over HTTP, for RL trainers that ask for it thousands of times, concurrently,
//! from other processes. The server owns the workspace (the one writer) and scores patches with
//! the same path as `evaluate` ([`crate::evaluate::score`]).
//!
//! - `POST /v1/evaluations` `{instance_id, patch, model?}` → `{status, resolved, fail_to_pass:
//!   {passed, failed}, pass_to_pass: {passed, failed}, tampered, seconds, cached, detail}`;
//! - `GET /v1/instances`: the instances that can be scored, with their image;
//! - `GET /healthz` (no token needed) and `GET /openapi.json` (the API description).
//!
//! Admission: `--jobs` evaluations run at once and `--queue` more may wait; a patch already scored
//! (stored) or being scored (in flight) costs nothing and is always answered, from the cache. A
//! new patch beyond that gets 429 with `Retry-After`. Bodies over `--max-body` get 413. With a
//! token (`SWEGYM_SERVE_TOKEN`; required off the loopback), `/v1/*` needs `Authorization: Bearer
//! <token>`, else 401. SIGTERM or Ctrl-C: no new connections; evaluations in flight are cancelled
//! (their containers removed) and answered 503; then the server exits.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{watch, Semaphore};

use crate::cancel::Cancel;
use crate::context::{workspace_label, Context};
use crate::docker::DockerError;
use crate::evaluate::{patch_hash, score, unscorable, Limits, Scorer};
use crate::store::{EvaluationRecord, ScoringTarget, Store, StoreError};

/// The API description served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Evaluations running at once.
    pub jobs: usize,
    /// New evaluations that may wait for a slot; beyond: 429.
    pub queue: usize,
    /// How long one request may wait for its result; beyond: 504 (the evaluation goes on and is
    /// cached).
    pub request_timeout: Duration,
    /// Largest request body, in bytes; beyond: 413.
    pub max_body: usize,
    pub limits: Limits,
    /// Required as a bearer token on `/v1/*` when set.
    pub token: Option<String>,
    /// Scores are stored under this run id.
    pub run_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(
        "--listen {0} is not a loopback address: set SWEGYM_SERVE_TOKEN to a secret that clients send as `Authorization: Bearer <token>`"
    )]
    NoToken(SocketAddr),
}

/// A request to score a patch.
#[derive(Debug, Deserialize)]
struct EvaluationRequest {
    instance_id: String,
    /// The model's patch (empty: `empty_patch`).
    patch: String,
    /// Stored with the score; default `serve`.
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Serialize)]
struct TestLists {
    passed: Vec<String>,
    failed: Vec<String>,
}

/// The reward.
#[derive(Debug, Serialize)]
struct EvaluationResponse {
    instance_id: String,
    status: String,
    resolved: bool,
    fail_to_pass: TestLists,
    pass_to_pass: TestLists,
    tampered: Vec<String>,
    applied_with: Option<String>,
    detail: Option<String>,
    seconds: f64,
    /// Answered from a stored or in-flight evaluation of the same patch.
    cached: bool,
}

impl EvaluationResponse {
    fn of(r: &EvaluationRecord, cached: bool) -> Self {
        Self {
            instance_id: r.instance_id.clone(),
            status: r.status.clone(),
            resolved: r.status == "resolved",
            fail_to_pass: TestLists { passed: r.fail_to_pass_passed.clone(), failed: r.fail_to_pass_failed.clone() },
            pass_to_pass: TestLists { passed: r.pass_to_pass_passed.clone(), failed: r.pass_to_pass_failed.clone() },
            tampered: r.tampered.clone(),
            applied_with: r.applied_with.clone(),
            detail: r.detail.clone(),
            seconds: r.seconds,
            cached,
        }
    }
}

/// An evaluation in flight: its result once there (`Err`: why there is none).
type Pending = watch::Receiver<Option<Result<Arc<EvaluationRecord>, String>>>;

struct Shared {
    store: Mutex<Store>,
    targets: BTreeMap<String, ScoringTarget>,
    scorer: Scorer,
    opts: ServeOptions,
    slots: Semaphore,
    /// New evaluations admitted and not finished (running or waiting for a slot).
    admitted: AtomicUsize,
    inflight: Mutex<HashMap<(String, String), Pending>>,
    cancel: Cancel,
    evaluations: AtomicU64,
    cache_hits: AtomicU64,
    rejected: AtomicU64,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves the data as it was; keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the request carries the token (compared without an early exit).
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = &shared.opts.token else { return true };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({
        "status": if shared.cancel.is_cancelled() { "shutting_down" } else { "ok" },
        "instances": shared.targets.len(),
        "jobs": shared.opts.jobs,
        "queue": shared.opts.queue,
        "admitted": shared.admitted.load(Ordering::Relaxed),
        "evaluations": shared.evaluations.load(Ordering::Relaxed),
        "cache_hits": shared.cache_hits.load(Ordering::Relaxed),
        "rejected": shared.rejected.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn instances(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let list: Vec<_> = shared
        .targets
        .values()
        .map(|t| {
            json!({
                "instance_id": t.instance.instance_id,
                "repo": t.instance.repo,
                "image": t.image,
                "fail_to_pass": t.fail_to_pass.len(),
                "pass_to_pass": t.pass_to_pass.len(),
                "tests_source": t.tests_source,
            })
        })
        .collect();
    Json(json!({ "instances": list })).into_response()
}

async fn evaluate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<EvaluationRequest>, JsonRejection>,
) -> Response {
    if !authorized(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let Json(req) = match body {
        Ok(b) => b,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    if shared.cancel.is_cancelled() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down");
    }
    let Some(target) = shared.targets.get(&req.instance_id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("instance {} cannot be scored here (GET /v1/instances lists those that can)", req.instance_id),
        );
    };
    let hash = patch_hash(&req.patch);
    let stored = lock(&shared.store).any_evaluation(&req.instance_id, &hash);
    match stored {
        Ok(Some(r)) => {
            shared.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Json(EvaluationResponse::of(&r, true)).into_response();
        }
        Ok(None) => {}
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
    let key = (req.instance_id.clone(), hash);
    let (mut pending, cached) = {
        let mut inflight = lock(&shared.inflight);
        match inflight.get(&key) {
            Some(p) => (p.clone(), true),
            None => {
                let capacity = shared.opts.jobs + shared.opts.queue;
                if shared.admitted.load(Ordering::SeqCst) >= capacity {
                    shared.rejected.fetch_add(1, Ordering::Relaxed);
                    let retry = shared.opts.limits.timeout.as_secs().clamp(1, 30);
                    let mut resp = error(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("{capacity} evaluations are running or waiting; retry later"),
                    );
                    if let Ok(v) = header::HeaderValue::from_str(&retry.to_string()) {
                        resp.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                    return resp;
                }
                shared.admitted.fetch_add(1, Ordering::SeqCst);
                let (tx, rx) = watch::channel(None);
                inflight.insert(key.clone(), rx.clone());
                let model = req.model.clone().unwrap_or_else(|| "serve".into());
                // Its own task: a client that goes away or times out does not stop the
                // evaluation (which removes its container and is cached for the next asker).
                tokio::spawn(run_one(shared.clone(), target.clone(), key.clone(), model, req.patch, tx));
                (rx, false)
            }
        }
    };
    if cached {
        shared.cache_hits.fetch_add(1, Ordering::Relaxed);
    }
    let waited = tokio::time::timeout(shared.opts.request_timeout, pending.wait_for(Option::is_some)).await;
    let result = match waited {
        Err(_) => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "no result within {} s; the evaluation goes on and a repeat of this request gets it",
                    shared.opts.request_timeout.as_secs()
                ),
            )
        }
        Ok(Err(_)) => return error(StatusCode::SERVICE_UNAVAILABLE, "the evaluation was dropped"),
        Ok(Ok(v)) => v.clone(),
    };
    match result {
        Some(Ok(r)) => Json(EvaluationResponse::of(&r, cached)).into_response(),
        Some(Err(why)) => error(StatusCode::SERVICE_UNAVAILABLE, why),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "no result"),
    }
}

/// Scores one admitted patch, stores it, and tells every waiter.
async fn run_one(
    shared: Arc<Shared>,
    target: ScoringTarget,
    key: (String, String),
    model: String,
    patch: String,
    tx: watch::Sender<Option<Result<Arc<EvaluationRecord>, String>>>,
) {
    let result = async {
        let _slot = tokio::select! {
            slot = shared.slots.acquire() => slot.map_err(|_| "the server is shutting down".to_string())?,
            _ = shared.cancel.cancelled() => return Err("the server is shutting down".to_string()),
        };
        let record = match score(&shared.scorer, &target, &shared.opts.run_id, &model, &patch, &shared.cancel).await {
            Ok(r) => r,
            Err(DockerError::Interrupted) => return Err("the server is shutting down".to_string()),
            Err(e) => return Err(format!("the evaluation failed: {e}")),
        };
        shared.evaluations.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = lock(&shared.store).write_evaluation(&record) {
            tracing::warn!("cannot store the evaluation of {}: {e}", record.instance_id);
        }
        Ok(Arc::new(record))
    }
    .await;
    // Stored first, then out of the in-flight map: a repeat always finds one or the other.
    lock(&shared.inflight).remove(&key);
    shared.admitted.fetch_sub(1, Ordering::SeqCst);
    let _ = tx.send(Some(result));
}

/// A body announced larger than the limit is refused from its header, before a byte of it is
/// read (a body without a length is cut off at the limit by [`DefaultBodyLimit`], also 413).
async fn refuse_large_bodies(State(max): State<usize>, req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(len) if len > max as u64 => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body has {len} bytes; at most {max} are accepted (--max-body)"),
        ),
        _ => next.run(req).await,
    }
}

/// The routes, on `shared`.
fn router(shared: Arc<Shared>, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/v1/instances", get(instances))
        .route("/v1/evaluations", post(evaluate))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(max_body, refuse_large_bodies))
        .with_state(shared)
}

/// Resolves on SIGTERM or Ctrl-C: what the command line stops a server with.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// What a server did before it stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServeSummary {
    pub listened_on: String,
    pub instances: usize,
    pub evaluations: u64,
    pub cache_hits: u64,
    pub rejected: u64,
    /// Containers of this workspace removed at the end (none, normally).
    pub swept_containers: usize,
}

/// Serves until `stop` resolves ([`shutdown_signal`] on the command line). `ready` is called
/// with the bound address once it listens (the CLI prints it; tests read it).
pub async fn serve(
    mut context: Context,
    opts: &ServeOptions,
    ready: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<ServeSummary, ServeError> {
    if !opts.listen.ip().is_loopback() && opts.token.is_none() {
        return Err(ServeError::NoToken(opts.listen));
    }
    let executor = context.executor().await?;
    let Context { store, workspace: ws, .. } = context;
    let label = workspace_label(&ws);
    executor.sweep(&label).await?;
    let ids = store.scorable_instance_ids()?;
    let targets: BTreeMap<String, ScoringTarget> =
        store.scoring_targets(&ids)?.into_iter().filter(|(_, t)| unscorable(t).is_none()).collect();
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        targets,
        scorer: Scorer { executor: executor.clone(), limits: opts.limits, labels: vec![label.clone()] },
        opts: opts.clone(),
        slots: Semaphore::new(opts.jobs.max(1)),
        admitted: AtomicUsize::new(0),
        inflight: Mutex::new(HashMap::new()),
        cancel: Cancel::new(),
        evaluations: AtomicU64::new(0),
        cache_hits: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: opts.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: opts.listen, source })?;
    ready(addr);
    let app = router(shared.clone(), opts.max_body);
    let cancel = shared.cancel.clone();
    let stopping = async move {
        stop.await;
        tracing::warn!("stopping: cancelling evaluations in flight (their containers are removed)");
        cancel.cancel();
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stopping)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    // Evaluations still running see the cancellation and remove their containers; wait for them.
    while shared.admitted.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    executor.shutdown().await;
    let swept = executor.sweep(&label).await?;
    Ok(ServeSummary {
        listened_on: addr.to_string(),
        instances: shared.targets.len(),
        evaluations: shared.evaluations.load(Ordering::Relaxed),
        cache_hits: shared.cache_hits.load(Ordering::Relaxed),
        rejected: shared.rejected.load(Ordering::Relaxed),
        swept_containers: swept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_description_names_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        for path in ["/healthz", "/v1/instances", "/v1/evaluations"] {
            assert!(doc["paths"][path].is_object(), "{path} is described");
        }
        let responses = &doc["paths"]["/v1/evaluations"]["post"]["responses"];
        for code in ["200", "400", "401", "404", "413", "429", "503", "504"] {
            assert!(responses[code].is_object(), "{code} is described");
        }
    }
}
