//! Swarm mode and registries through the same engine connection: one-off services (one replica,
//! restart condition none), their tasks and logs, node health, secrets, and pushing, pulling and
//! looking up images in a registry.
//!
//! Gotchas: service logs interleave stdout frames as the node's logging driver stored them (long
//! lines are split at 16 KiB), so results are framed in short lines by the caller; Swarm expands
//! `{{…}}` templates in env values, so callers pass only text that cannot hold them (base64).

use std::collections::HashMap;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::body_full;
use bollard::models::{
    Mount, MountType, NodeState, ResourceObject, SecretSpec, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets, TaskSpecPlacement,
    TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder, LogsOptionsBuilder,
    PushImageOptionsBuilder,
};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{api, DockerError, Engine};

/// A registry login, from the environment only (never stored, logged or labelled).
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    pub server: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryLogin {{ server: {:?}, username: {:?}, password: <hidden> }}", self.server, self.username)
    }
}

impl RegistryLogin {
    fn credentials(&self) -> DockerCredentials {
        DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            serveraddress: Some(self.server.clone()),
            ..Default::default()
        }
    }
}

/// What a one-off service runs.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    /// `KEY=value`; values must not contain `{{` (Swarm would expand them).
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Reserved on the node, so the scheduler places the task only where they fit.
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    /// Swarm placement constraints (`node.labels.x==y`, `node.role==worker`).
    pub constraints: Vec<String>,
    /// Mount the node's Docker socket at the same path.
    pub docker_socket: bool,
    /// (secret id, secret name, file name under /run/secrets).
    pub secrets: Vec<(String, String, String)>,
    /// How long the task gets to stop after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
}

/// A task's state as the manager reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: String,
    pub node_id: Option<String>,
    pub state: TaskState,
    /// The scheduler's or the node's message (`no suitable node (insufficient resources on 2 nodes)`).
    pub err: Option<String>,
    pub message: Option<String>,
    pub exit_code: Option<i64>,
}

impl Engine {
    /// Whether this engine is a manager of an active swarm.
    pub async fn swarm_manager(&self) -> Result<bool, DockerError> {
        let info = self.docker.info().await.map_err(api)?;
        Ok(info.swarm.and_then(|s| s.control_available).unwrap_or(false))
    }

    /// Creates a service of one replica that is never restarted; returns its id.
    pub async fn create_service(
        &self,
        req: &ServiceRequest,
        login: Option<&RegistryLogin>,
    ) -> Result<String, DockerError> {
        let mut mounts = vec![];
        if req.docker_socket {
            mounts.push(Mount {
                target: Some("/var/run/docker.sock".into()),
                source: Some("/var/run/docker.sock".into()),
                typ: Some(MountType::BIND),
                ..Default::default()
            });
        }
        let secrets = req
            .secrets
            .iter()
            .map(|(id, name, file)| TaskSpecContainerSpecSecrets {
                secret_id: Some(id.clone()),
                secret_name: Some(name.clone()),
                file: Some(TaskSpecContainerSpecFile {
                    name: Some(file.clone()),
                    uid: Some("0".into()),
                    gid: Some("0".into()),
                    mode: Some(0o400),
                }),
            })
            .collect();
        let spec = ServiceSpec {
            name: Some(req.name.clone()),
            labels: Some(req.labels.clone()),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(req.image.clone()),
                    command: Some(req.command.clone()),
                    env: Some(req.env.clone()),
                    labels: Some(req.labels.clone()),
                    mounts: Some(mounts),
                    secrets: Some(secrets),
                    stop_grace_period: Some(req.stop_grace.as_nanos() as i64),
                    ..Default::default()
                }),
                resources: Some(TaskSpecResources {
                    reservations: Some(ResourceObject {
                        nano_cpus: Some(req.nano_cpus),
                        memory_bytes: Some(req.memory_bytes),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                    max_attempts: Some(0),
                    ..Default::default()
                }),
                placement: Some(TaskSpecPlacement { constraints: Some(req.constraints.clone()), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self.docker.create_service(spec, login.map(RegistryLogin::credentials)).await.map_err(api)?;
        created.id.ok_or_else(|| DockerError::Api(format!("service {} was created without an id", req.name)))
    }

    /// The tasks of service `id` (a one-replica service has one, or none before the orchestrator
    /// made it).
    pub async fn service_tasks(&self, id: &str) -> Result<Vec<TaskView>, DockerError> {
        let filters = HashMap::from([("service".to_string(), vec![id.to_string()])]);
        let opts = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = self.docker.list_tasks(Some(opts)).await.map_err(api)?;
        Ok(tasks
            .into_iter()
            .map(|t| {
                let status = t.status.unwrap_or_default();
                TaskView {
                    id: t.id.unwrap_or_default(),
                    node_id: t.node_id.filter(|n| !n.is_empty()),
                    state: status.state.unwrap_or(TaskState::NEW),
                    err: status.err.filter(|e| !e.is_empty()),
                    message: status.message.filter(|m| !m.is_empty()),
                    exit_code: status.container_status.and_then(|c| c.exit_code),
                }
            })
            .collect())
    }

    /// Each node's id with whether it is up (state `ready`) and its hostname.
    pub async fn nodes(&self) -> Result<Vec<(String, bool, String)>, DockerError> {
        let nodes = self.docker.list_nodes(None::<bollard::query_parameters::ListNodesOptions>).await.map_err(api)?;
        Ok(nodes
            .into_iter()
            .map(|n| {
                let up = n.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY);
                let host = n.description.and_then(|d| d.hostname).unwrap_or_default();
                (n.id.unwrap_or_default(), up, host)
            })
            .collect())
    }

    /// Everything service `id` wrote to stdout, as text.
    pub async fn service_stdout(&self, id: &str) -> Result<String, DockerError> {
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(false).follow(false).build();
        let mut logs = Box::pin(self.docker.service_logs(id, Some(opts)));
        let mut out = Vec::new();
        while let Some(chunk) = logs.next().await {
            match chunk {
                Ok(c) => out.extend_from_slice(&c.into_bytes()),
                Err(e) => return Err(api(e)),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Removes service `id` (its task's container is stopped by its node); absent is fine.
    pub async fn remove_service(&self, id: &str) -> Result<(), DockerError> {
        match self.docker.delete_service(id).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(api(e)),
        }
    }

    /// Ids and names of the services carrying `label` (`key=value`).
    pub async fn services_with_label(&self, label: &str) -> Result<Vec<(String, String)>, DockerError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let opts = ListServicesOptionsBuilder::default().filters(&filters).build();
        let list = self.docker.list_services(Some(opts)).await.map_err(api)?;
        Ok(list.into_iter().filter_map(|s| Some((s.id?, s.spec.and_then(|sp| sp.name).unwrap_or_default()))).collect())
    }

    /// Creates a swarm secret; returns its id.
    pub async fn create_secret(
        &self,
        name: &str,
        data: &[u8],
        labels: HashMap<String, String>,
    ) -> Result<String, DockerError> {
        use base64::Engine as _;
        let spec = SecretSpec {
            name: Some(name.to_string()),
            labels: Some(labels),
            data: Some(base64::engine::general_purpose::STANDARD.encode(data)),
            ..Default::default()
        };
        Ok(self.docker.create_secret(spec).await.map_err(api)?.id)
    }

    pub async fn remove_secret(&self, id: &str) -> Result<(), DockerError> {
        match self.docker.delete_secret(id).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(api(e)),
        }
    }

    /// Ids of the secrets carrying `label` (`key=value`).
    pub async fn secrets_with_label(&self, label: &str) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let opts = bollard::query_parameters::ListSecretsOptionsBuilder::default().filters(&filters).build();
        let list = self.docker.list_secrets(Some(opts)).await.map_err(api)?;
        Ok(list.into_iter().filter_map(|s| s.id).collect())
    }

    /// Whether the registry holds `name` (`host:port/repo:tag`), asked through the engine.
    pub async fn registry_has(&self, name: &str, login: Option<&RegistryLogin>) -> Result<bool, DockerError> {
        match self.docker.inspect_registry_image(name, login.map(RegistryLogin::credentials)).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code, message })
                if status_code == 404 || is_not_found(&message) =>
            {
                Ok(false)
            }
            Err(e) => Err(registry_error(name, login, &e.to_string())),
        }
    }

    /// Pushes `name` (`host:port/repo:tag`, already tagged on this engine).
    pub async fn push(&self, name: &str, login: Option<&RegistryLogin>) -> Result<(), DockerError> {
        let (repo, tag) = split_tag(name);
        let opts = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = Box::pin(self.docker.push_image(repo, Some(opts), login.map(RegistryLogin::credentials)));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| registry_error(name, login, &format!("pushing: {e}")))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(registry_error(name, login, &format!("pushing: {e}")));
            }
        }
        Ok(())
    }

    /// Pulls `name` (`host:port/repo:tag`). `Ok(false)` when the registry does not have it.
    pub async fn pull(&self, name: &str, login: Option<&RegistryLogin>) -> Result<bool, DockerError> {
        let (repo, tag) = split_tag(name);
        let opts = CreateImageOptionsBuilder::default().from_image(repo).tag(tag).build();
        let mut stream = Box::pin(self.docker.create_image(Some(opts), None, login.map(RegistryLogin::credentials)));
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return if is_not_found(&e) {
                            Ok(false)
                        } else {
                            Err(registry_error(name, login, &format!("pulling: {e}")))
                        };
                    }
                }
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return Ok(false),
                Err(e) if is_not_found(&e.to_string()) => return Ok(false),
                Err(e) => return Err(registry_error(name, login, &format!("pulling: {e}"))),
            }
        }
        Ok(true)
    }

    /// Makes image `name` of one layer holding `files` (a tar of them), with no command.
    pub async fn import_files(&self, name: &str, files: &[(String, Vec<u8>)]) -> Result<(), DockerError> {
        let tar = super::tar_files(files).map_err(|source| DockerError::Io { path: name.into(), source })?;
        let (repo, tag) = split_tag(name);
        let opts = CreateImageOptionsBuilder::default().from_src("-").repo(repo).tag(tag).build();
        let mut stream = Box::pin(self.docker.create_image(Some(opts), Some(body_full(Bytes::from(tar))), None));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::Api(format!("importing {name}: {e}")))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::Api(format!("importing {name}: {e}")));
            }
        }
        Ok(())
    }

    /// File `path` of image `name` (created as a container that never starts, then removed).
    pub async fn file_from_image(&self, name: &str, path: &str) -> Result<Option<Vec<u8>>, DockerError> {
        let body = bollard::models::ContainerCreateBody {
            image: Some(name.to_string()),
            cmd: Some(vec!["none".into()]),
            labels: Some(HashMap::from([(super::CONTAINER_LABEL.to_string(), "1".to_string())])),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
            .await
            .map_err(api)?;
        let file = self.read_file(&created.id, path).await;
        self.remove_container(&created.id).await;
        file
    }
}

/// `host:port/repo:tag` → (`host:port/repo`, `tag`); the colon of a port is not a tag's.
pub fn split_tag(name: &str) -> (&str, &str) {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (name, "latest"),
    }
}

/// A registry's refusal, with what to do when it wants a login.
fn registry_error(name: &str, login: Option<&RegistryLogin>, msg: &str) -> DockerError {
    let m = msg.to_lowercase();
    let refused = ["unauthorized", "authentication required", "no basic auth credentials", "denied"]
        .iter()
        .any(|needle| m.contains(needle));
    let hint = match (refused, login) {
        (true, None) => format!(
            "\n  the registry wants a login: set {} and {} (they are passed to the nodes as a swarm secret, never stored)",
            crate::workspace::env::REGISTRY_USERNAME,
            crate::workspace::env::REGISTRY_PASSWORD
        ),
        (true, Some(l)) => format!("\n  the registry refused the login of {:?}: check {}", l.username, crate::workspace::env::REGISTRY_PASSWORD),
        (false, _) => String::new(),
    };
    DockerError::Api(format!("registry, {name}: {msg}{hint}"))
}

fn is_not_found(msg: &str) -> bool {
    let m = msg.to_lowercase();
    m.contains("not found") || m.contains("manifest unknown") || m.contains("does not exist")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_port_is_not_taken_for_a_tag() {
        assert_eq!(split_tag("127.0.0.1:5000/swegym/env.a__b:1.0-abc"), ("127.0.0.1:5000/swegym/env.a__b", "1.0-abc"));
        assert_eq!(split_tag("127.0.0.1:5000/swegym/worker"), ("127.0.0.1:5000/swegym/worker", "latest"));
        assert_eq!(split_tag("swegym/base:py3.11"), ("swegym/base", "py3.11"));
    }

    #[test]
    fn a_registry_that_wants_a_login_says_which_variables_give_it() {
        let e = registry_error("r:5443/x:1", None, "unauthorized: authentication required").to_string();
        assert!(e.contains("SWEGYM_REGISTRY_USERNAME") && e.contains("SWEGYM_REGISTRY_PASSWORD"), "{e}");
        let login = RegistryLogin { server: "r:5443".into(), username: "me".into(), password: "s3cret".into() };
        let e = registry_error("r:5443/x:1", Some(&login), "unauthorized").to_string();
        assert!(e.contains("refused the login of \"me\"") && !e.contains("s3cret"), "{e}");
        assert!(!registry_error("r/x:1", None, "connection refused").to_string().contains("login"));
        let e =
            registry_error("r:5443/x:1", None, "Head \"https://r:5443/v2/x/manifests/1\": no basic auth credentials");
        assert!(e.to_string().contains("SWEGYM_REGISTRY_USERNAME"), "{e}");
    }

    #[test]
    fn registry_passwords_never_print() {
        let login = RegistryLogin { server: "r:5000".into(), username: "me".into(), password: "s3cret".into() };
        assert!(!format!("{login:?}").contains("s3cret"));
    }
}
