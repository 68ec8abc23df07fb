//! The swarm executor: each job becomes a one-off service (one replica, restart condition none)
//! of the worker image, placed by Swarm's scheduler on a node where its reservation fits; the
//! worker runs the job on that node's engine (socket mounted) and prints its result, which is read
//! back from the service's logs. Then the service is removed.
//!
//! Faults: a task whose node goes down (or that fails without a result) runs again as a new
//! service, up to `max_attempts`; a task not placed within `placement_timeout` fails with the
//! scheduler's reason; Ctrl-C removes this run's services; services and secrets left by a killed
//! run carry the workspace label and are swept by the next run.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::TaskState;

use super::wire::{self, Envelope, Outcome};
use super::{Job, SwarmConfig};
use crate::cancel::Cancel;
use crate::docker::swarm::ServiceRequest;
use crate::docker::{DockerError, Engine};

/// How often task states are polled.
const POLL: Duration = Duration::from_millis(250);
/// The label every service and secret of a run carries, besides the workspace's.
pub const RUN_LABEL: &str = "swegym.run";
pub const KIND_LABEL: &str = "swegym.kind";

/// Where one attempt of a task ran, for tests and benchmarks (`SWEGYM_TRACE_TASKS`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Placement {
    pub service: String,
    pub kind: String,
    pub node: Option<String>,
    pub attempt: u32,
    /// Created → running, and created → result read, in seconds.
    pub to_running: Option<f64>,
    pub to_result: Option<f64>,
    pub outcome: String,
}

#[derive(Debug)]
pub struct Swarm {
    manager: Engine,
    config: SwarmConfig,
    label: (String, String),
    run: String,
    seq: AtomicU64,
    live: Mutex<HashSet<String>>,
    /// The nodes that are up, as last listed, and when: every task in flight checks its node on
    /// each poll, so the list is fetched at most once per poll interval for all of them.
    up_nodes: tokio::sync::Mutex<Option<(Instant, HashSet<String>)>>,
    /// The registry login as a swarm secret (id, name), when there is one.
    login_secret: Option<(String, String)>,
    trace: Option<std::path::PathBuf>,
}

/// How one attempt ended.
enum Attempt<T> {
    Done(T),
    /// Ran nowhere or lost its node; worth another attempt.
    Lost(String),
}

impl Swarm {
    /// Connects to the manager `DOCKER_HOST` points at; checks it is one and that the worker
    /// image is in the registry.
    pub async fn connect(config: SwarmConfig, label: (String, String)) -> Result<Self, DockerError> {
        let manager = Engine::connect().await?;
        if !manager.swarm_manager().await? {
            return Err(DockerError::Task(
                "--executor swarm: the engine DOCKER_HOST points at is not a swarm manager (run `docker swarm init` there, or point DOCKER_HOST at a manager: tcp://HOST:2375 or ssh://…)".into(),
            ));
        }
        let run = format!("{:x}{:04x}", chrono::Utc::now().timestamp() & 0xffff_ffff, std::process::id() & 0xffff);
        let mut me = Self {
            manager,
            config,
            label,
            run,
            seq: AtomicU64::new(0),
            live: Mutex::new(HashSet::new()),
            up_nodes: tokio::sync::Mutex::new(None),
            login_secret: None,
            trace: std::env::var_os(crate::workspace::env::TRACE_TASKS).map(Into::into),
        };
        if let Some(login) = &me.config.login {
            let name = format!("swegym-login-{}", me.run);
            let json =
                serde_json::json!({"server": login.server, "username": login.username, "password": login.password});
            let id = me.manager.create_secret(&name, json.to_string().as_bytes(), me.labels("login")).await?;
            me.login_secret = Some((id, name));
        }
        Ok(me)
    }

    pub fn manager(&self) -> &Engine {
        &self.manager
    }

    fn labels(&self, kind: &str) -> HashMap<String, String> {
        HashMap::from([
            (self.label.0.clone(), self.label.1.clone()),
            (RUN_LABEL.to_string(), self.run.clone()),
            (KIND_LABEL.to_string(), kind.to_string()),
        ])
    }

    pub async fn registry_has(&self, tag: &str) -> Result<bool, DockerError> {
        self.manager.registry_has(&self.config.registry.name(tag), self.config.login.as_ref()).await
    }

    /// Pushes `tag` from the manager's engine.
    pub async fn publish(&self, tag: &str) -> Result<(), DockerError> {
        let name = self.config.registry.name(tag);
        let (repo, t) = crate::docker::swarm::split_tag(&name);
        self.manager.tag(tag, repo, t).await?;
        self.manager.push(&name, self.config.login.as_ref()).await
    }

    /// Removes services and secrets of this workspace's earlier runs; returns how many.
    pub async fn sweep(&self, label: &str) -> Result<usize, DockerError> {
        let mut n = 0;
        for (id, name) in self.manager.services_with_label(label).await? {
            if name.contains(&self.run) {
                continue;
            }
            self.manager.remove_service(&id).await?;
            n += 1;
        }
        for id in self.manager.secrets_with_label(label).await? {
            if Some(&id) == self.login_secret.as_ref().map(|(i, _)| i) {
                continue;
            }
            // A secret still used by a running service of another run cannot go: leave it.
            if self.manager.remove_secret(&id).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes every service of this run still there, and the login secret.
    pub async fn shutdown(&self) {
        let live: Vec<String> = self.live.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default();
        for id in live {
            if let Err(e) = self.manager.remove_service(&id).await {
                tracing::warn!("could not remove service {id}: {e}");
            }
        }
        if let Some((id, _)) = &self.login_secret {
            let _ = self.manager.remove_secret(id).await;
        }
    }

    /// Runs `job` as swarm tasks until one gives a result, a placement times out, or
    /// `max_attempts` were lost.
    pub async fn execute<J: Job>(&self, job: J, cancel: &Cancel) -> Result<J::Output, DockerError> {
        let what = job.describe();
        let reservation = job.reservation();
        let envelope = Envelope {
            kind: J::KIND.to_string(),
            registry: self.config.registry.to_string(),
            job: serde_json::to_value(&job).map_err(|e| DockerError::Task(format!("{what}: cannot encode: {e}")))?,
        };
        drop(job);
        let encoded = envelope.encode().map_err(|e| DockerError::Task(format!("{what}: {e}")))?;
        let task_env = if encoded.len() <= wire::INLINE_MAX {
            format!("{}={encoded}", wire::TASK_ENV)
        } else {
            format!("{}={}", wire::TASK_IMAGE_ENV, self.task_image(&envelope).await?)
        };
        let task = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut lost = vec![];
        for attempt in 1..=self.config.max_attempts.max(1) {
            match self.attempt::<J>(&what, reservation, &task_env, task, attempt, cancel).await? {
                Attempt::Done(out) => return Ok(out),
                Attempt::Lost(why) => {
                    tracing::warn!("{what}: attempt {attempt} lost ({why}); running it again");
                    lost.push(format!("attempt {attempt}: {why}"));
                }
            }
        }
        Err(DockerError::Task(format!(
            "{what}: gave up after {} attempts (--max-attempts): {}",
            lost.len(),
            lost.join("; ")
        )))
    }

    /// An envelope too big for the environment, as a one-file image in the registry; its name.
    async fn task_image(&self, envelope: &Envelope) -> Result<String, DockerError> {
        let json = serde_json::to_vec(envelope).map_err(|e| DockerError::Task(format!("cannot encode a task: {e}")))?;
        let tag = format!("swegym/task:{}", content_hash(&json));
        let name = self.config.registry.name(&tag);
        if !self.manager.registry_has(&name, self.config.login.as_ref()).await? {
            self.manager.import_files(&name, &[(wire::TASK_FILE.to_string(), json)]).await?;
            self.manager.push(&name, self.config.login.as_ref()).await?;
            self.manager.untag(&name).await?;
        }
        Ok(name)
    }

    async fn attempt<J: Job>(
        &self,
        what: &str,
        reservation: super::Reservation,
        task_env: &str,
        task: u64,
        attempt: u32,
        cancel: &Cancel,
    ) -> Result<Attempt<J::Output>, DockerError> {
        // `-a<attempt>` last: the attempts of one task share the rest of the name.
        let name = format!("swegym-{}-{}-{task}-a{attempt}", J::KIND, self.run);
        let mut env = vec![task_env.to_string()];
        if let Ok(level) = std::env::var(crate::workspace::env::LOG) {
            if !level.contains("{{") {
                env.push(format!("{}={level}", crate::workspace::env::LOG));
            }
        }
        let req = ServiceRequest {
            name: name.clone(),
            image: self.config.registry.name(&self.config.worker_image),
            command: vec!["swegym-build".into(), "worker".into()],
            env,
            labels: self.labels(J::KIND),
            memory_bytes: reservation.memory_bytes,
            nano_cpus: reservation.nano_cpus,
            constraints: self.config.constraints.clone(),
            docker_socket: true,
            secrets: self
                .login_secret
                .iter()
                .map(|(id, n)| (id.clone(), n.clone(), wire::LOGIN_SECRET_FILE.to_string()))
                .collect(),
            stop_grace: Duration::from_secs(30),
        };
        let created = Instant::now();
        let id = self.manager.create_service(&req, self.config.login.as_ref()).await?;
        if let Ok(mut live) = self.live.lock() {
            live.insert(id.clone());
        }
        let mut trace = Placement {
            service: name.clone(),
            kind: J::KIND.into(),
            node: None,
            attempt,
            to_running: None,
            to_result: None,
            outcome: String::new(),
        };
        let result = tokio::select! {
            r = self.watch::<J>(&id, what, reservation, created, &mut trace) => r,
            _ = cancel.cancelled() => Err(DockerError::Interrupted),
        };
        if let Err(e) = self.manager.remove_service(&id).await {
            tracing::warn!("could not remove service {name}: {e}");
        }
        if let Ok(mut live) = self.live.lock() {
            live.remove(&id);
        }
        trace.outcome = match &result {
            Ok(Attempt::Done(_)) => "done".into(),
            Ok(Attempt::Lost(why)) => format!("lost: {why}"),
            Err(e) => format!("error: {e}"),
        };
        self.write_trace(&trace);
        result
    }

    fn write_trace(&self, p: &Placement) {
        let Some(path) = &self.trace else { return };
        let Ok(line) = serde_json::to_string(p) else { return };
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Follows the service's task to its end.
    async fn watch<J: Job>(
        &self,
        id: &str,
        what: &str,
        reservation: super::Reservation,
        created: Instant,
        trace: &mut Placement,
    ) -> Result<Attempt<J::Output>, DockerError> {
        let mut last_err = None;
        loop {
            tokio::time::sleep(POLL).await;
            let tasks = self.manager.service_tasks(id).await?;
            let Some(task) = tasks.into_iter().next() else { continue };
            if task.err.is_some() {
                last_err.clone_from(&task.err);
            }
            if trace.node.is_none() {
                trace.node.clone_from(&task.node_id);
            }
            match task.state {
                TaskState::NEW | TaskState::ALLOCATED | TaskState::PENDING => {
                    if created.elapsed() > self.config.placement_timeout {
                        return Err(DockerError::Task(format!(
                            "{what}: no node could take it within {:?} (--placement-timeout): {}; it reserves {} of memory and {} CPUs (--memory, --cpus): add nodes with more, or ask for less",
                            self.config.placement_timeout,
                            last_err.as_deref().unwrap_or("the scheduler gave no reason"),
                            human_bytes(reservation.memory_bytes),
                            reservation.nano_cpus as f64 / 1e9
                        )));
                    }
                }
                TaskState::ASSIGNED
                | TaskState::ACCEPTED
                | TaskState::PREPARING
                | TaskState::READY
                | TaskState::STARTING
                | TaskState::RUNNING => {
                    if task.state == TaskState::RUNNING && trace.to_running.is_none() {
                        trace.to_running = Some(created.elapsed().as_secs_f64());
                    }
                    if let Some(node) = &task.node_id {
                        if !self.node_up(node).await? {
                            return Ok(Attempt::Lost(format!(
                                "node {node} went down while the task was {}",
                                task.state
                            )));
                        }
                    }
                }
                TaskState::COMPLETE
                | TaskState::FAILED
                | TaskState::REJECTED
                | TaskState::SHUTDOWN
                | TaskState::ORPHANED
                | TaskState::REMOVE => {
                    if trace.to_running.is_none() && task.state == TaskState::COMPLETE {
                        trace.to_running = Some(created.elapsed().as_secs_f64());
                    }
                    let out = self.read_result::<J>(id).await?;
                    trace.to_result = Some(created.elapsed().as_secs_f64());
                    return match out {
                        Some(Ok(Outcome::Ok(v))) => Ok(Attempt::Done(v)),
                        Some(Ok(Outcome::Err(e))) => Err(DockerError::Task(format!("{what}: {e}"))),
                        Some(Err(e)) => Err(DockerError::Task(format!("{what}: {e}"))),
                        None => Ok(Attempt::Lost(format!(
                            "the task ended {} without a result{}{}",
                            task.state,
                            task.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default(),
                            last_err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                        ))),
                    };
                }
            }
        }
    }

    async fn node_up(&self, node: &str) -> Result<bool, DockerError> {
        let mut cached = self.up_nodes.lock().await;
        if let Some((at, up)) = cached.as_ref() {
            if at.elapsed() < POLL {
                return Ok(up.contains(node));
            }
        }
        let up: HashSet<String> =
            self.manager.nodes().await?.into_iter().filter(|(_, up, _)| *up).map(|(id, _, _)| id).collect();
        let answer = up.contains(node);
        *cached = Some((Instant::now(), up));
        Ok(answer)
    }

    /// The result in the service's logs; a few tries, as logs may lag the task's end.
    async fn read_result<J: Job>(&self, id: &str) -> Result<Option<Result<Outcome<J::Output>, String>>, DockerError> {
        for _ in 0..8 {
            let stdout = self.manager.service_stdout(id).await?;
            if let Some(r) = wire::parse_result::<J::Output>(&stdout) {
                return Ok(Some(r));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(None)
    }
}

/// The first 16 hex digits of the SHA-256 of `bytes`.
fn content_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn human_bytes(n: i64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let n = n as f64;
    if n >= GIB {
        format!("{:.1} GiB", n / GIB)
    } else {
        format!("{:.0} MiB", n / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_read_as_people_write_them() {
        assert_eq!(human_bytes(4 << 30), "4.0 GiB");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
    }
}
