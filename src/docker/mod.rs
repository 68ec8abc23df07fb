//! The Docker Engine adapter (bollard): build an image from an in-memory tar context with its log
//! streamed to a file, inspect and list images, and run a command in a throw-away container with
//! limits, files copied in, output and files copied out, and removal on every path out.
//!
//! Gotchas: the engine may speak an older API than bollard (20.10 speaks 1.41), so the version is
//! negotiated on connect; `wait_container` yields `Err` for a non-zero exit, which we read as an
//! exit code, not a failure.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CommitContainerOptionsBuilder, CreateContainerOptionsBuilder,
    DownloadFromContainerOptionsBuilder, InspectContainerOptions, ListImagesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::{body_full, Docker};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::cancel::Cancel;

pub mod swarm;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker Engine ({0}); is it running, and does DOCKER_HOST (default unix:///var/run/docker.sock) point at it?"
    )]
    Connect(String),
    #[error("building {tag} failed: {cause}\n  last lines of {log}:\n{tail}")]
    Build { tag: String, cause: String, log: PathBuf, tail: String },
    #[error("Docker Engine: {0}")]
    Api(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("interrupted")]
    Interrupted,
    /// A unit of work that ran elsewhere (a swarm task) could not be run or gave no result.
    #[error("{0}")]
    Task(String),
}

fn api(e: bollard::errors::Error) -> DockerError {
    DockerError::Api(e.to_string())
}

/// Every container we create carries this label.
pub const CONTAINER_LABEL: &str = "swegym.container";

/// An image as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub labels: HashMap<String, String>,
}

/// Limits and inputs of a throw-away container.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub image: String,
    /// Run with `sh -c`.
    pub script: String,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// Files put into the container before it starts: (absolute path, contents).
    #[serde(with = "b64_files")]
    pub files: Vec<(String, Vec<u8>)>,
    /// Files read back after it ends (absent files are skipped).
    pub collect: Vec<String>,
    pub timeout: Duration,
    pub memory_bytes: i64,
    pub pids: i64,
    pub nano_cpus: i64,
    /// Tests never get a network; only builds do.
    pub network: bool,
    /// Extra container labels (e.g. the workspace that owns it, so a later run can sweep up
    /// containers left behind by a killed one).
    pub labels: Vec<(String, String)>,
}

impl RunSpec {
    pub fn new(image: &str, script: &str) -> Self {
        Self {
            image: image.to_string(),
            script: script.to_string(),
            env: vec![],
            workdir: None,
            files: vec![],
            collect: vec![],
            timeout: Duration::from_secs(600),
            memory_bytes: 4 << 30,
            pids: 1024,
            nano_cpus: 2_000_000_000,
            network: false,
            labels: vec![],
        }
    }
}

/// How a container run ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunOutput {
    /// `None` when it was stopped at the timeout.
    pub exit_code: Option<i64>,
    /// stdout and stderr, interleaved.
    pub output: String,
    pub timed_out: bool,
    /// Collected files that existed: (path, contents).
    #[serde(with = "b64_files")]
    pub files: Vec<(String, Vec<u8>)>,
}

impl RunOutput {
    /// The collected file `name` of directory `dir`, if the run left it.
    pub fn file_in(&self, dir: &str, name: &str) -> Option<&[u8]> {
        let path = format!("{dir}/{name}");
        self.files.iter().find(|(p, _)| *p == path).map(|(_, b)| b.as_slice())
    }

    /// That file as text (invalid UTF-8 replaced).
    pub fn text_in(&self, dir: &str, name: &str) -> Option<String> {
        self.file_in(dir, name).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// That file as a number (an exit code, a time), if it holds one.
    pub fn number_in(&self, dir: &str, name: &str) -> Option<f64> {
        self.text_in(dir, name).and_then(|t| t.trim().parse().ok())
    }
}

/// A connected engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects as the docker CLI would (`DOCKER_HOST`, else the local socket) and agrees on an
    /// API version with the engine.
    pub async fn connect() -> Result<Self, DockerError> {
        let docker = Docker::connect_with_defaults().map_err(|e| DockerError::Connect(e.to_string()))?;
        let docker = docker.negotiate_version().await.map_err(|e| DockerError::Connect(e.to_string()))?;
        docker.ping().await.map_err(|e| DockerError::Connect(e.to_string()))?;
        Ok(Self { docker })
    }

    /// The image with this tag or id, if the engine has it.
    pub async fn image(&self, name: &str) -> Result<Option<ImageInfo>, DockerError> {
        match self.docker.inspect_image(name).await {
            Ok(i) => Ok(Some(ImageInfo {
                id: i.id.unwrap_or_default(),
                tags: i.repo_tags.unwrap_or_default(),
                size: i.size.unwrap_or(0).max(0) as u64,
                labels: i.config.and_then(|c| c.labels).unwrap_or_default(),
            })),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(api(e)),
        }
    }

    /// Images carrying `label` (a key, or `key=value`).
    pub async fn images_with_label(&self, label: &str) -> Result<Vec<ImageInfo>, DockerError> {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![label.to_string()]);
        let opts = ListImagesOptionsBuilder::default().filters(&filters).build();
        let list = self.docker.list_images(Some(opts)).await.map_err(api)?;
        Ok(list
            .into_iter()
            .map(|i| ImageInfo { id: i.id, tags: i.repo_tags, size: i.size.max(0) as u64, labels: i.labels })
            .collect())
    }

    /// Force-removes every container carrying `label` (`key=value`), running or not; returns how
    /// many. For containers a killed run (SIGKILL, power loss) could not remove itself.
    pub async fn remove_containers_with_label(&self, label: &str) -> Result<usize, DockerError> {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![label.to_string()]);
        let opts =
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(api)?;
        let mut removed = 0;
        for c in list {
            let Some(id) = c.id else { continue };
            let rm = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            match self.docker.remove_container(&id, Some(rm)).await {
                Ok(()) => removed += 1,
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(e) => return Err(api(e)),
            }
        }
        Ok(removed)
    }

    /// Gives image `name` another tag, `repo:tag` (moved from whatever image had it).
    pub async fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
        let opts = TagImageOptionsBuilder::default().repo(repo).tag(tag).build();
        self.docker.tag_image(name, Some(opts)).await.map_err(api)
    }

    /// Removes the tag `name` only: the image stays under its other tags.
    pub async fn untag(&self, name: &str) -> Result<(), DockerError> {
        let opts = RemoveImageOptionsBuilder::default().force(false).noprune(true).build();
        match self.docker.remove_image(name, Some(opts), None).await {
            Ok(_) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(api(e)),
        }
    }

    pub async fn remove_image(&self, name: &str) -> Result<(), DockerError> {
        let opts = RemoveImageOptionsBuilder::default().force(true).build();
        match self.docker.remove_image(name, Some(opts), None).await {
            Ok(_) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(api(e)),
        }
    }

    /// Builds `tag` from a tar context (with a `Dockerfile` at its root), streaming the build
    /// output to `log`. Returns the image id. On failure the error carries the log's last lines.
    pub async fn build(
        &self,
        tag: &str,
        context: Vec<u8>,
        labels: &HashMap<String, String>,
        log: &Path,
        cancel: &Cancel,
    ) -> Result<String, DockerError> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DockerError::Io { path: dir.to_path_buf(), source })?;
        }
        let mut file =
            std::fs::File::create(log).map_err(|source| DockerError::Io { path: log.to_path_buf(), source })?;
        // The build may use the network (host network: no bridge NAT needed behind a proxy);
        // `rm`/`forcerm` leave no intermediate containers behind, even on failure.
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .networkmode("host")
            .labels(labels)
            .build();
        let mut stream = Box::pin(self.docker.build_image(opts, None, Some(body_full(Bytes::from(context)))));
        let mut id = None;
        let mut failure = None;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = cancel.cancelled() => return Err(DockerError::Interrupted),
            };
            let Some(item) = item else { break };
            match item {
                Ok(info) => {
                    if let Some(s) = &info.stream {
                        let _ = file.write_all(s.as_bytes());
                    }
                    if let Some(s) = &info.status {
                        let _ = writeln!(file, "{s}");
                    }
                    if let Some(aux) = info.aux.as_ref().and_then(|a| a.id.clone()) {
                        id = Some(aux);
                    }
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        let _ = writeln!(file, "ERROR: {e}");
                        failure = Some(e);
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    let _ = writeln!(file, "ERROR: {text}");
                    failure = Some(text);
                    break;
                }
            }
        }
        drop(file);
        if let Some(cause) = failure {
            return Err(DockerError::Build {
                tag: tag.to_string(),
                cause,
                log: log.to_path_buf(),
                tail: tail(log, 25),
            });
        }
        match id {
            Some(id) => Ok(id),
            None => match self.image(tag).await? {
                Some(i) => Ok(i.id),
                None => Err(DockerError::Build {
                    tag: tag.to_string(),
                    cause: "the engine reported no image".into(),
                    log: log.to_path_buf(),
                    tail: tail(log, 25),
                }),
            },
        }
    }

    /// Runs `spec` in a new container and removes it afterwards — also on timeout, error and
    /// cancellation.
    pub async fn run(&self, spec: &RunSpec, cancel: &Cancel) -> Result<RunOutput, DockerError> {
        let id = self.create(spec).await?;
        let result = self.run_created(&id, spec, cancel).await;
        self.remove_container(&id).await;
        result
    }

    /// Builds image `tag` in one layer by running `spec` (its `files` and then `archive`, a tar,
    /// unpacked at `/` first) and committing the container's filesystem when it exits 0; its
    /// output goes to `log`. Far cheaper than a Dockerfile on a storage driver that diffs whole
    /// filesystems per step (fuse-overlayfs: ~10 s a step): one diff instead of one per
    /// instruction. The image keeps its parent's command and gets `labels` (note: the engine
    /// also copies the build container's labels onto it). Returns the image id; the container is
    /// removed on every path.
    pub async fn commit_run(
        &self,
        spec: &RunSpec,
        archive: Vec<u8>,
        tag: &str,
        labels: HashMap<String, String>,
        log: &Path,
        cancel: &Cancel,
    ) -> Result<String, DockerError> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DockerError::Io { path: dir.to_path_buf(), source })?;
        }
        let parent = self.docker.inspect_image(&spec.image).await.map_err(|e| DockerError::Build {
            tag: tag.into(),
            cause: e.to_string(),
            log: log.into(),
            tail: String::new(),
        })?;
        let parent_config = parent.config.unwrap_or_default();
        let id = self.create(spec).await?;
        let result = async {
            let opts = UploadToContainerOptionsBuilder::default().path("/").build();
            self.docker.upload_to_container(&id, Some(opts), body_full(Bytes::from(archive))).await.map_err(api)?;
            let out = self.run_created(&id, spec, cancel).await?;
            std::fs::write(log, &out.output).map_err(|source| DockerError::Io { path: log.to_path_buf(), source })?;
            let failed =
                |cause: String| DockerError::Build { tag: tag.into(), cause, log: log.into(), tail: tail(log, 25) };
            match out.exit_code {
                Some(0) => {}
                Some(code) => return Err(failed(format!("the build script exited with {code}"))),
                None => return Err(failed(format!("the build script did not finish within {:?}", spec.timeout))),
            }
            let (repo, version) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
            let opts = CommitContainerOptionsBuilder::default().container(&id).repo(repo).tag(version).build();
            // Unset fields are filled from the build container, whose command is the build script:
            // name the parent's (a shell where it has none).
            let config = ContainerConfig {
                cmd: Some(parent_config.cmd.filter(|c| !c.is_empty()).unwrap_or_else(|| vec!["/bin/bash".into()])),
                labels: Some(labels),
                ..Default::default()
            };
            let committed = self.docker.commit_container(opts, config).await.map_err(api)?;
            Ok(committed.id)
        }
        .await;
        self.remove_container(&id).await;
        result
    }

    async fn remove_container(&self, id: &str) {
        let rm = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        if let Err(e) = self.docker.remove_container(id, Some(rm)).await {
            tracing::warn!("could not remove container {id}: {e}");
        }
    }

    /// Creates (does not start) the container of `spec`, with its limits and labels.
    async fn create(&self, spec: &RunSpec) -> Result<String, DockerError> {
        let host = HostConfig {
            memory: Some(spec.memory_bytes),
            memory_swap: Some(spec.memory_bytes),
            pids_limit: Some(spec.pids),
            nano_cpus: Some(spec.nano_cpus),
            network_mode: Some(if spec.network { "host".into() } else { "none".into() }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(vec!["sh".into(), "-c".into(), spec.script.clone()]),
            env: Some(spec.env.clone()),
            working_dir: spec.workdir.clone(),
            // NetworkMode `none` alone: loopback only, and Docker still writes /etc/hosts, so
            // `localhost` resolves (servers started by tests: Ray, dask.distributed, tornado).
            // `NetworkDisabled` would leave /etc/hosts empty and every such test failing.
            network_disabled: None,
            labels: Some(
                std::iter::once((CONTAINER_LABEL.to_string(), "1".to_string())).chain(spec.labels.clone()).collect(),
            ),
            host_config: Some(host),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().build();
        let created = self.docker.create_container(Some(opts), body).await.map_err(api)?;
        Ok(created.id)
    }

    async fn run_created(&self, id: &str, spec: &RunSpec, cancel: &Cancel) -> Result<RunOutput, DockerError> {
        if !spec.files.is_empty() {
            let tar = tar_files(&spec.files).map_err(|source| DockerError::Io { path: PathBuf::from("/"), source })?;
            let opts = UploadToContainerOptionsBuilder::default().path("/").build();
            self.docker.upload_to_container(id, Some(opts), body_full(Bytes::from(tar))).await.map_err(api)?;
        }
        self.docker.start_container(id, None).await.map_err(api)?;
        let mut wait = Box::pin(self.docker.wait_container(id, None));
        let mut timed_out = false;
        let exit_code = tokio::select! {
            r = wait.next() => match r {
                Some(Ok(w)) => Some(w.status_code),
                // bollard: a non-zero exit arrives as an error carrying the code.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
                Some(Err(e)) => return Err(api(e)),
                None => None,
            },
            _ = tokio::time::sleep(spec.timeout) => { timed_out = true; None }
            _ = cancel.cancelled() => return Err(DockerError::Interrupted),
        };
        if timed_out {
            let _ = self.docker.kill_container(id, None::<bollard::query_parameters::KillContainerOptions>).await;
        }
        let exit_code = match exit_code {
            Some(c) => Some(c),
            None if timed_out => None,
            None => self
                .docker
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
                .map_err(api)?
                .state
                .and_then(|s| s.exit_code),
        };
        let mut output = Vec::new();
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(true).build();
        let mut logs = Box::pin(self.docker.logs(id, Some(opts)));
        while let Some(chunk) = logs.next().await {
            match chunk {
                Ok(c) => output.extend_from_slice(&c.into_bytes()),
                Err(e) => return Err(api(e)),
            }
        }
        let mut files = vec![];
        for path in &spec.collect {
            if let Some(bytes) = self.read_file(id, path).await? {
                files.push((path.clone(), bytes));
            }
        }
        Ok(RunOutput { exit_code, output: String::from_utf8_lossy(&output).into_owned(), timed_out, files })
    }

    /// One file from a (stopped) container, `None` if absent.
    async fn read_file(&self, id: &str, path: &str) -> Result<Option<Vec<u8>>, DockerError> {
        let opts = DownloadFromContainerOptionsBuilder::default().path(path).build();
        let mut stream = Box::pin(self.docker.download_from_container(id, Some(opts)));
        let mut tar_bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => tar_bytes.extend_from_slice(&b),
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return Ok(None),
                Err(e) => return Err(api(e)),
            }
        }
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let entries = archive.entries().map_err(|source| DockerError::Io { path: path.into(), source })?;
        for entry in entries {
            let mut entry = entry.map_err(|source| DockerError::Io { path: path.into(), source })?;
            if entry.header().entry_type().is_file() {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut out)
                    .map_err(|source| DockerError::Io { path: path.into(), source })?;
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

/// A tar archive of `files` (absolute paths become relative to `/`).
pub fn tar_files(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    tar_files_mode(files, 0o644)
}

/// [`tar_files`] with every file given `mode` (0o755 for programs).
pub fn tar_files_mode(files: &[(String, Vec<u8>)], mode: u32) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path.trim_start_matches('/'), &bytes[..])?;
    }
    b.into_inner()
}

/// The last `n` non-blank lines of a text.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `n` lines of a file, indented, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    last_lines(&text, n).lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// Single-quotes a word for `sh`: every script run in a container or at a build quotes with it.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_quote_survives_single_quotes() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
    }
}

/// (path, bytes) lists in JSON with the bytes as base64, not as arrays of numbers.
pub mod b64_files {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(files: &[(String, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
        let b = base64::engine::general_purpose::STANDARD;
        files.iter().map(|(p, bytes)| (p.as_str(), b.encode(bytes))).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Vec<u8>)>, D::Error> {
        let b = base64::engine::general_purpose::STANDARD;
        Vec::<(String, String)>::deserialize(d)?
            .into_iter()
            .map(|(p, text)| b.decode(text).map(|bytes| (p, bytes)).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// Bytes in JSON as base64.
pub mod b64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
