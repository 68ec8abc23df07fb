//! What every stage works with, built once per command by `app`: the workspace, its store, the
//! git mirrors, the recipes, progress output and the cancellation signal. Stages take it as their
//! first argument, so each is called the same way: `stage(&mut cx, &options)`.

use std::sync::Arc;

use crate::cancel::Cancel;
use crate::docker::{DockerError, Engine};
use crate::executor::{Executor, Swarm, SwarmConfig};
use crate::git::Mirrors;
use crate::progress::Progress;
use crate::recipe::RecipeBook;
use crate::store::Store;
use crate::workspace::Workspace;

/// The shared state of one command run. The store is the only way stages exchange data.
pub struct Context {
    pub workspace: Workspace,
    pub store: Store,
    pub mirrors: Mirrors,
    pub recipes: RecipeBook,
    pub progress: Progress,
    pub cancel: Cancel,
    /// Where units of work run: `None` on the local engine, else on this swarm.
    pub swarm: Option<SwarmConfig>,
    /// The executor once connected (one per command: refresh's stages share it).
    connected: Option<Executor>,
}

impl Context {
    /// A context for `store` in `workspace`, with mirrors under the workspace cloned from
    /// `git_url` (see `SWEGYM_GIT_URL`), the given recipes, and a fresh cancellation signal.
    pub fn new(workspace: Workspace, store: Store, git_url: &str, recipes: RecipeBook, progress: Progress) -> Self {
        let mirrors = Mirrors::new(workspace.mirrors_dir(), git_url);
        Self { workspace, store, mirrors, recipes, progress, cancel: Cancel::new(), swarm: None, connected: None }
    }

    /// Connects to where this command's units of work run: the engine of `DOCKER_HOST`, or the
    /// swarm whose manager it is.
    pub async fn executor(&mut self) -> Result<Executor, DockerError> {
        if let Some(e) = &self.connected {
            return Ok(e.clone());
        }
        let e = match &self.swarm {
            None => Executor::Local(Engine::connect().await?),
            Some(config) => {
                let swarm = Swarm::connect(config.clone(), workspace_label(&self.workspace)).await?;
                Executor::Swarm(Arc::new(swarm))
            }
        };
        self.connected = Some(e.clone());
        Ok(e)
    }

    /// Removes what the executor still has running (swarm services of a stage that stopped on an
    /// error); called by `app` after every stage, whatever its result.
    pub async fn close(&mut self) {
        if let Some(e) = self.connected.take() {
            e.shutdown().await;
        }
    }
}

/// The label (key, value) on every test container of a workspace (`validate`, `evaluate`,
/// `serve`): a run that holds the workspace lock removes any container carrying it, left behind
/// by a killed run.
pub fn workspace_label(ws: &Workspace) -> (String, String) {
    let root = ws.root().canonicalize().unwrap_or_else(|_| ws.root().to_path_buf());
    ("swegym.workspace".into(), crate::recipe::short_hash(root.to_string_lossy().as_bytes()))
}
