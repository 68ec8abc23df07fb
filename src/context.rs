//! What every stage works with, built once per command by `app`: the workspace, its store, the
//! git mirrors, the recipes, progress output and the cancellation signal. Stages take it as their
//! first argument, so each is called the same way: `stage(&mut cx, &options)`.

use crate::cancel::Cancel;
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
}

impl Context {
    /// A context for `store` in `workspace`, with mirrors under the workspace cloned from
    /// `git_url` (see `SWEGYM_GIT_URL`), the given recipes, and a fresh cancellation signal.
    pub fn new(workspace: Workspace, store: Store, git_url: &str, recipes: RecipeBook, progress: Progress) -> Self {
        let mirrors = Mirrors::new(workspace.mirrors_dir(), git_url);
        Self { workspace, store, mirrors, recipes, progress, cancel: Cancel::new() }
    }
}

/// The label (key, value) on every test container of a workspace (`validate`, `evaluate`,
/// `serve`): a run that holds the workspace lock removes any container carrying it, left behind
/// by a killed run.
pub fn workspace_label(ws: &Workspace) -> (String, String) {
    let root = ws.root().canonicalize().unwrap_or_else(|_| ws.root().to_path_buf());
    ("swegym.workspace".into(), crate::recipe::short_hash(root.to_string_lossy().as_bytes()))
}
