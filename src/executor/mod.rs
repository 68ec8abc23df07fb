//! Where units of work run: on the engine at hand (`local`, the default), or as tasks of a Docker
//! Swarm cluster (`swarm`) whose workers run the very same code on their node's engine and pass
//! images through a registry.
//!
//! A unit of work is a [`Job`]: serialisable, with the images it needs and makes, what it
//! reserves, and how it runs on one engine. Stages hand jobs to an [`Executor`] and get the
//! job's output back, wherever it ran; only the coordinator writes the store. A Kubernetes Jobs
//! executor would map the same [`wire::Envelope`] onto a Job (README: "Beyond one machine").

pub mod swarm;
pub mod wire;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cancel::Cancel;
use crate::docker::swarm::RegistryLogin;
use crate::docker::{DockerError, Engine, RunOutput, RunSpec};

pub use swarm::Swarm;

/// What a job reserves on the node it runs on (Swarm places it only where this fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub memory_bytes: i64,
    pub nano_cpus: i64,
}

/// A unit of work that can run on any engine.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Names the job type in task specs (the worker dispatches on it).
    const KIND: &'static str;
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Images it runs on: a swarm worker pulls them from the registry first.
    fn needs(&self) -> Vec<String>;
    /// Images it made: a swarm worker pushes them to the registry afterwards.
    fn produced(output: &Self::Output) -> Vec<String>;
    fn reservation(&self) -> Reservation;
    /// For messages: what this is ("validation run of acme__calc-1").
    fn describe(&self) -> String;
    /// Runs it on `engine`.
    fn run(self, engine: &Engine, cancel: &Cancel) -> impl Future<Output = Result<Self::Output, DockerError>> + Send;
}

/// One throw-away container (a validation run, an evaluation, a check).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunJob {
    pub spec: RunSpec,
    pub what: String,
}

impl Job for RunJob {
    const KIND: &'static str = "run";
    type Output = RunOutput;

    fn needs(&self) -> Vec<String> {
        vec![self.spec.image.clone()]
    }

    fn produced(_: &RunOutput) -> Vec<String> {
        vec![]
    }

    fn reservation(&self) -> Reservation {
        Reservation { memory_bytes: self.spec.memory_bytes, nano_cpus: self.spec.nano_cpus }
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    async fn run(self, engine: &Engine, cancel: &Cancel) -> Result<RunOutput, DockerError> {
        engine.run(&self.spec, cancel).await
    }
}

/// `--executor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum ExecutorKind {
    /// Every container on the engine of DOCKER_HOST (default: the local socket).
    #[default]
    Local,
    /// Each unit of work as a one-off service of the swarm whose manager DOCKER_HOST points at;
    /// images go through --registry.
    Swarm,
}

/// Where images are shared: `HOST:PORT[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub host: String,
    pub prefix: Option<String>,
}

impl std::str::FromStr for Registry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().trim_end_matches('/');
        if s.contains("://") {
            return Err(format!("{s:?}: give HOST:PORT[/prefix] without a scheme (e.g. 127.0.0.1:5000)"));
        }
        let (host, prefix) = match s.split_once('/') {
            Some((h, p)) => (h, Some(p.to_string())),
            None => (s, None),
        };
        let valid_host = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
            && (host.contains('.') || host.contains(':') || host == "localhost");
        if !valid_host {
            return Err(format!(
                "{s:?}: not a registry address; give HOST:PORT[/prefix] (a host with a dot or a port, e.g. 127.0.0.1:5000 or registry.example.com/team)"
            ));
        }
        if let Some(p) = &prefix {
            if !p.split('/').all(|c| {
                !c.is_empty()
                    && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "-_.".contains(ch))
            }) {
                return Err(format!("{s:?}: the prefix must be lowercase path components (a-z, 0-9, '-', '_', '.')"));
            }
        }
        Ok(Self { host: host.to_string(), prefix })
    }
}

impl std::fmt::Display for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.prefix {
            Some(p) => write!(f, "{}/{p}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

impl Registry {
    /// The registry name of local image `tag` (`swegym/env.x:1.0-abc` →
    /// `HOST:PORT[/prefix]/swegym/env.x:1.0-abc`): tags are unchanged, only prefixed.
    pub fn name(&self, tag: &str) -> String {
        format!("{self}/{tag}")
    }
}

/// Everything a swarm run needs besides the manager connection.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    pub registry: Registry,
    /// Local tag of the worker image (`swegym/worker:…`), pushed to the registry by `app`.
    pub worker_image: String,
    /// A task not placed within this fails (no node has the resources it reserves).
    pub placement_timeout: Duration,
    /// Runs of a task whose node was lost, before it is recorded as failed.
    pub max_attempts: u32,
    /// Placement constraints of every task.
    pub constraints: Vec<String>,
    pub login: Option<RegistryLogin>,
}

/// Registry credentials from `SWEGYM_REGISTRY_USERNAME` and `SWEGYM_REGISTRY_PASSWORD` (both or
/// neither).
pub fn login_from_env(registry: &Registry) -> Result<Option<RegistryLogin>, String> {
    let user = std::env::var(crate::workspace::env::REGISTRY_USERNAME).ok().filter(|s| !s.is_empty());
    let pass = std::env::var(crate::workspace::env::REGISTRY_PASSWORD).ok().filter(|s| !s.is_empty());
    match (user, pass) {
        (Some(username), Some(password)) => {
            Ok(Some(RegistryLogin { server: registry.host.clone(), username, password }))
        }
        (None, None) => Ok(None),
        _ => Err(format!(
            "set both {} and {} (or neither, for a registry without login)",
            crate::workspace::env::REGISTRY_USERNAME,
            crate::workspace::env::REGISTRY_PASSWORD
        )),
    }
}

/// Where the units of work of one command run.
#[derive(Debug, Clone)]
pub enum Executor {
    Local(Engine),
    Swarm(Arc<Swarm>),
}

impl Executor {
    /// The engine at hand (local), or the swarm manager's.
    pub fn engine(&self) -> &Engine {
        match self {
            Executor::Local(e) => e,
            Executor::Swarm(s) => s.manager(),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Executor::Local(_))
    }

    /// Runs `job` here or on a swarm node; its output either way.
    pub async fn execute<J: Job>(&self, job: J, cancel: &Cancel) -> Result<J::Output, DockerError> {
        match self {
            Executor::Local(engine) => job.run(engine, cancel).await,
            Executor::Swarm(s) => s.execute(job, cancel).await,
        }
    }

    /// Whether image `tag` can be used without building it: in the engine (local), in the
    /// registry (swarm: an image the registry lacks is rebuilt, whatever any engine holds).
    pub async fn has_image(&self, tag: &str) -> Result<bool, DockerError> {
        match self {
            Executor::Local(e) => Ok(e.image(tag).await?.is_some()),
            Executor::Swarm(s) => s.registry_has(tag).await,
        }
    }

    /// Makes image `tag`, built on [`Executor::engine`], available to every worker (swarm:
    /// pushes it; local: nothing to do).
    pub async fn publish(&self, tag: &str) -> Result<(), DockerError> {
        match self {
            Executor::Local(_) => Ok(()),
            Executor::Swarm(s) => s.publish(tag).await,
        }
    }

    /// Removes what killed runs of this workspace left behind (containers; swarm: services and
    /// secrets too); returns how many.
    pub async fn sweep(&self, label: &(String, String)) -> Result<usize, DockerError> {
        let filter = format!("{}={}", label.0, label.1);
        let mut n = self.engine().remove_containers_with_label(&filter).await?;
        if let Executor::Swarm(s) = self {
            n += s.sweep(&filter).await?;
        }
        Ok(n)
    }

    /// Removes what this run created that is still there (swarm services after Ctrl-C).
    pub async fn shutdown(&self) {
        if let Executor::Swarm(s) = self {
            s.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_addresses_parse_with_and_without_a_prefix() {
        let r: Registry = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(r.name("swegym/env.a__b:1.0-abc"), "127.0.0.1:5000/swegym/env.a__b:1.0-abc");
        let r: Registry = "registry.example.com/team/gym/".parse().unwrap();
        assert_eq!(r.name("swegym/worker:1"), "registry.example.com/team/gym/swegym/worker:1");
        assert!("http://127.0.0.1:5000".parse::<Registry>().unwrap_err().contains("without a scheme"));
        assert!("myregistry".parse::<Registry>().unwrap_err().contains("HOST:PORT"));
        assert!("r.example.com/Team".parse::<Registry>().unwrap_err().contains("lowercase"));
    }
}
