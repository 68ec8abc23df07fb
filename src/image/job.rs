//! One image build as a unit of work that runs on any engine (here, or a swarm node): build under
//! a staging tag, run the checks in a container without network, and give the image its real tag
//! only when every check passed. On a swarm node the worker then pushes the real tag.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::script;
use crate::cancel::Cancel;
use crate::docker::{b64_bytes, DockerError, Engine, RunSpec};
use crate::executor::{Job, Reservation};
use crate::store::Check;

/// How an image is made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HowBuilt {
    /// From a Dockerfile, in this tar context.
    Dockerfile {
        #[serde(with = "b64_bytes")]
        context: Vec<u8>,
    },
    /// By running `run` (with `archive` unpacked at `/`) and committing its container: one layer.
    Committed {
        run: Box<RunSpec>,
        #[serde(with = "b64_bytes")]
        archive: Vec<u8>,
        labels: HashMap<String, String>,
    },
}

/// An image to build and check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageJob {
    pub tag: String,
    /// The image it is built on (pulled first on a swarm node; its size is subtracted).
    pub parent: Option<String>,
    pub how: HowBuilt,
    /// The check container (its image is set to the staging tag) and the checks' names.
    pub checks: RunSpec,
    pub check_names: Vec<String>,
}

/// What came of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageJobOutput {
    pub tag: String,
    /// Set when the image was built (even if a check then failed).
    pub image_id: Option<String>,
    /// Why it has no tag: the build failed (with its likely cause) or a check did.
    pub failure: Option<String>,
    pub checks: Vec<Check>,
    /// Bytes over the parent.
    pub size_bytes: u64,
    /// The build log, and the path it had where the job ran (named in `failure`).
    pub log: String,
    pub log_path: String,
}

/// Resources a build reserves on a swarm node.
const BUILD_MEMORY: i64 = 2 << 30;
const BUILD_CPUS: i64 = 1_000_000_000;

impl Job for ImageJob {
    const KIND: &'static str = "image";
    type Output = ImageJobOutput;

    fn needs(&self) -> Vec<String> {
        self.parent.iter().cloned().collect()
    }

    fn produced(out: &ImageJobOutput) -> Vec<String> {
        if out.failure.is_none() && out.image_id.is_some() {
            vec![out.tag.clone()]
        } else {
            vec![]
        }
    }

    fn reservation(&self) -> Reservation {
        match &self.how {
            HowBuilt::Committed { run, .. } => Reservation {
                memory_bytes: run.memory_bytes.min(BUILD_MEMORY),
                nano_cpus: run.nano_cpus.min(BUILD_CPUS),
            },
            HowBuilt::Dockerfile { .. } => Reservation { memory_bytes: BUILD_MEMORY, nano_cpus: BUILD_CPUS },
        }
    }

    fn describe(&self) -> String {
        format!("build of {}", self.tag)
    }

    async fn run(self, engine: &Engine, cancel: &Cancel) -> Result<ImageJobOutput, DockerError> {
        let dir = tempfile::tempdir().map_err(|source| DockerError::Io { path: std::env::temp_dir(), source })?;
        let log = dir.path().join(format!("{}.log", self.tag.replace(['/', ':'], "_")));
        let mut out = ImageJobOutput {
            tag: self.tag.clone(),
            image_id: None,
            failure: None,
            checks: vec![],
            size_bytes: 0,
            log: String::new(),
            log_path: log.display().to_string(),
        };
        // Built under a staging tag and given its real one only once its checks pass: a run killed
        // in between leaves an `…-unchecked` tag, never a real tag on an unchecked image (real tags
        // are reused, and adopted by other workspaces, on that promise).
        let staging = format!("{}-unchecked", self.tag);
        let built = match self.how {
            HowBuilt::Dockerfile { context } => engine.build(&staging, context, &HashMap::new(), &log, cancel).await,
            HowBuilt::Committed { run, archive, labels } => {
                engine.commit_run(&run, archive, &staging, labels, &log, cancel).await
            }
        };
        out.log = std::fs::read_to_string(&log).unwrap_or_default();
        match built {
            Ok(id) => out.image_id = Some(id),
            Err(DockerError::Interrupted) => return Err(DockerError::Interrupted),
            Err(e) => {
                out.failure = Some(format!("{e}\n  likely cause: {}", script::likely_cause(&log)));
                return Ok(out);
            }
        }
        let mut spec = self.checks;
        spec.image = staging.clone();
        let checked = engine.run(&spec, cancel).await;
        let checks = match checked {
            Ok(o) => script::parse_checks(&self.check_names, &o),
            Err(e) => {
                engine.remove_image(&staging).await?;
                return Err(e);
            }
        };
        let bad = checks.iter().find(|c| !c.ok).map(|c| format!("check `{}` failed: {}", c.name, c.detail));
        out.checks = checks;
        if let Some(msg) = bad {
            engine.remove_image(&staging).await?;
            out.failure = Some(msg);
            return Ok(out);
        }
        let (repo, version) = self.tag.rsplit_once(':').unwrap_or((self.tag.as_str(), "latest"));
        engine.tag(&staging, repo, version).await?;
        engine.untag(&staging).await?;
        let size = engine.image(&self.tag).await?.map(|i| i.size).unwrap_or(0);
        let parent_size = match &self.parent {
            Some(p) => engine.image(p).await?.map(|i| i.size).unwrap_or(0),
            None => 0,
        };
        out.size_bytes = size.saturating_sub(parent_size);
        Ok(out)
    }
}
