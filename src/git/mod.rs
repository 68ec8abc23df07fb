//! Git mirrors (git2): one bare mirror per repository under the workspace, cloned once from
//! `SWEGYM_GIT_URL` and fetched again only when a needed commit is missing; files are read at a
//! commit from blobs, without a checkout. A lock file per mirror makes clone and fetch safe when
//! several jobs (or processes) want the same repository at once.

use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use git2::{FetchOptions, Oid, Repository};

use crate::model::RepoName;

mod delta;
mod layout;
pub use delta::{DeltaContent, DeltaFile, RepositoryLayer, TreeDelta};
pub use layout::{loose_object_path, StoreUnit, HISTORY_CHUNK};

const HEADS: &str = "+refs/heads/*:refs/heads/*";
const TAGS: &str = "+refs/tags/*:refs/tags/*";

/// Default clone URL template: `{owner}`, `{name}` and `{repo}` (= owner/name) are replaced.
pub const DEFAULT_GIT_URL: &str = "https://github.com/{repo}.git";

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot clone {url} into {path}: {source} (check SWEGYM_GIT_URL; file:// paths work)")]
    Clone { url: String, path: PathBuf, source: git2::Error },
    #[error("cannot fetch {url} into {path}: {source}")]
    Fetch { url: String, path: PathBuf, source: git2::Error },
    #[error("commit {sha} is not in {repo} (not even after fetching {url}){hint}")]
    MissingCommit { repo: String, sha: String, url: String, hint: String },
    #[error("`{sha}` is not a commit id")]
    BadSha { sha: String },
    #[error("{path}: {source}")]
    Git { path: PathBuf, source: git2::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Where mirrors live and where they are cloned from.
#[derive(Debug, Clone)]
pub struct Mirrors {
    root: PathBuf,
    url_template: String,
}

impl Mirrors {
    pub fn new(root: impl Into<PathBuf>, url_template: impl Into<String>) -> Self {
        Self { root: root.into(), url_template: url_template.into() }
    }

    /// The clone URL of `repo`.
    pub fn url_for(&self, repo: &RepoName) -> String {
        self.url_template
            .replace("{repo}", &repo.to_string())
            .replace("{owner}", repo.owner())
            .replace("{name}", repo.name())
    }

    fn path_for(&self, repo: &RepoName) -> PathBuf {
        self.root.join(format!("{}.git", repo.instance_prefix()))
    }

    /// Opens the mirror of `repo`, cloning it first if there is none.
    pub fn open(&self, repo: &RepoName) -> Result<Mirror, GitError> {
        let path = self.path_for(repo);
        let url = self.url_for(repo);
        std::fs::create_dir_all(&self.root).map_err(|source| GitError::Io { path: self.root.clone(), source })?;
        let _lock = MirrorLock::take(&path)?;
        let git = if path.join("HEAD").exists() {
            Repository::open_bare(&path).map_err(|source| GitError::Git { path: path.clone(), source })?
        } else {
            // Clone into a temporary name and rename: a killed clone leaves no half mirror behind.
            let tmp = path.with_extension("git.partial");
            let _ = std::fs::remove_dir_all(&tmp);
            let mut builder = git2::build::RepoBuilder::new();
            if url.starts_with("file://") {
                // A mirror on this machine: copy (or hard-link) its object files instead of
                // packing every object through the file:// transport (minutes for a large
                // repository, all of it CPU).
                builder.clone_local(git2::build::CloneLocal::Local);
            }
            let cloned = builder
                .bare(true)
                // Branches and tags: what a clone needs. Not `refs/*`: a mirror may hold refs whose
                // objects it does not have (partial copies), and GitHub's refs/pull/* are huge.
                .remote_create(|repo, name, url| {
                    let remote = repo.remote_with_fetch(name, url, HEADS)?;
                    repo.remote_add_fetch(name, TAGS)?;
                    Ok(remote)
                })
                .clone(&url, &tmp)
                .map_err(|source| GitError::Clone { url: url.clone(), path: path.clone(), source })?;
            mark_cut_history(&cloned).map_err(|source| GitError::Git { path: path.clone(), source })?;
            drop(cloned);
            std::fs::rename(&tmp, &path).map_err(|source| GitError::Io { path: path.clone(), source })?;
            Repository::open_bare(&path).map_err(|source| GitError::Git { path: path.clone(), source })?
        };
        Ok(Mirror { git, path, url, repo: repo.to_string() })
    }
}

/// An exclusive lock on one mirror while it is cloned or fetched.
struct MirrorLock {
    _file: File,
}

impl MirrorLock {
    fn take(mirror: &Path) -> Result<Self, GitError> {
        let path = mirror.with_extension("git.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| GitError::Io { path: path.clone(), source })?;
        f.lock().map_err(|source| GitError::Io { path, source })?;
        Ok(Self { _file: f })
    }
}

/// One repository's bare mirror.
pub struct Mirror {
    git: Repository,
    path: PathBuf,
    url: String,
    repo: String,
}

impl Mirror {
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn git_err(&self) -> impl Fn(git2::Error) -> GitError + '_ {
        move |source| GitError::Git { path: self.path.clone(), source }
    }

    /// Whether the mirror holds commit `sha` now (without fetching).
    pub fn contains(&self, sha: &str) -> bool {
        Oid::from_str(sha).is_ok_and(|oid| self.git.find_commit(oid).is_ok())
    }

    /// Makes sure `sha` is present, fetching every ref from the origin once if it is not.
    pub fn ensure_commit(&self, sha: &str) -> Result<Oid, GitError> {
        let oid = Oid::from_str(sha).map_err(|_| GitError::BadSha { sha: sha.to_string() })?;
        if self.git.find_commit(oid).is_ok() {
            return Ok(oid);
        }
        let boundary = self.shallow_boundary()?;
        {
            let _lock = MirrorLock::take(&self.path)?;
            let mut remote = self.git.find_remote("origin").map_err(self.git_err())?;
            let mut opts = FetchOptions::new();
            opts.prune(git2::FetchPrune::On);
            remote.fetch(&[HEADS, TAGS], Some(&mut opts), None).map_err(|source| GitError::Fetch {
                url: self.url.clone(),
                path: self.path.clone(),
                source,
            })?;
            if self.git.find_commit(oid).is_err() {
                // A PR's base on a deleted branch: servers that allow it (GitHub does) send a
                // commit asked for by id. A refusal just means the commit is missing, below.
                let _ = remote.fetch(&[format!("+{sha}:refs/swegym/{sha}")], Some(&mut FetchOptions::new()), None);
            }
            self.keep_shallow_boundary(&boundary)?;
        }
        match self.git.find_commit(oid) {
            Ok(_) => Ok(oid),
            Err(_) => {
                // A shallow copy cannot reach below its boundary by fetching refs: say how to deepen it.
                let hint = if !boundary.is_empty() {
                    format!(
                        "; the mirror {} is shallow: deepen it (git --git-dir={} fetch --shallow-since=DATE origin) \
                         or point SWEGYM_GIT_URL at a complete copy",
                        self.path.display(),
                        self.path.display()
                    )
                } else {
                    String::new()
                };
                Err(GitError::MissingCommit {
                    repo: self.repo.clone(),
                    sha: sha.to_string(),
                    url: self.url.clone(),
                    hint,
                })
            }
        }
    }

    /// The commit HEAD points at (the default branch of the origin).
    pub fn head(&self) -> Result<String, GitError> {
        let c = self.git.head().and_then(|h| h.peel_to_commit()).map_err(self.git_err())?;
        Ok(c.id().to_string())
    }

    /// The bytes of `path` at commit `sha`, or `None` if the file does not exist there.
    pub fn read_file(&self, sha: &str, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let oid = self.ensure_commit(sha)?;
        let tree = self.git.find_commit(oid).and_then(|c| c.tree()).map_err(self.git_err())?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(self.git_err()(e)),
        };
        let object = entry.to_object(&self.git).map_err(self.git_err())?;
        Ok(object.as_blob().map(|b| b.content().to_vec()))
    }

    /// The committer time of `sha` (the dependency cut-off for its environment).
    pub fn commit_time(&self, sha: &str) -> Result<DateTime<Utc>, GitError> {
        let oid = self.ensure_commit(sha)?;
        let c = self.git.find_commit(oid).map_err(self.git_err())?;
        Ok(DateTime::from_timestamp(c.time().seconds(), 0).unwrap_or_default())
    }
}

impl Mirror {
    /// Every tag, by the commit it points at (annotated tags peeled).
    pub fn tags_by_commit(&self) -> Result<HashMap<Oid, Vec<String>>, GitError> {
        let mut out: HashMap<Oid, Vec<String>> = HashMap::new();
        let names = self.git.tag_names(None).map_err(self.git_err())?;
        for name in (0..names.len()).filter_map(|i| names.get(i).ok().flatten()) {
            let Ok(obj) = self.git.revparse_single(&format!("refs/tags/{name}")) else { continue };
            if let Ok(c) = obj.peel_to_commit() {
                out.entry(c.id()).or_default().push(name.to_string());
            }
        }
        for v in out.values_mut() {
            v.sort();
        }
        Ok(out)
    }

    /// The commits whose parents a shallow mirror does not hold (git's `shallow` file): history
    /// ends there. Empty for a complete mirror.
    pub fn shallow_boundary(&self) -> Result<HashSet<Oid>, GitError> {
        let file = self.git.path().join("shallow");
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(text.lines().filter_map(|l| Oid::from_str(l.trim()).ok()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
            Err(source) => Err(GitError::Io { path: file, source }),
        }
    }

    /// libgit2's fetch into a shallow repository deletes its `shallow` file without bringing the
    /// history below it, which leaves a copy that claims to be whole and fails every walk with
    /// "object not found". Write back the boundary commits whose parents are still missing.
    fn keep_shallow_boundary(&self, before: &HashSet<Oid>) -> Result<(), GitError> {
        if before.is_empty() {
            return Ok(());
        }
        let still: BTreeSet<Oid> = before
            .iter()
            .copied()
            .filter(|id| {
                self.git
                    .find_commit(*id)
                    .is_ok_and(|c| recorded_parents(&c).iter().any(|p| self.git.find_commit(*p).is_err()))
            })
            .collect();
        if self.shallow_boundary()?.len() == still.len() {
            return Ok(());
        }
        write_shallow(&self.git, &still)
            .map_err(|source| GitError::Io { path: self.git.path().join("shallow"), source })
    }

    /// For every commit reachable from a branch or tag: the nearest tag `accept` takes among it and
    /// its ancestors, and the distance — one pass over the history in topological order (parents
    /// first), so pinning thousands of instances costs one walk, not one walk each. Where the
    /// history is cut (a shallow mirror), the walk stops there and says which answers may be
    /// incomplete ([`TagWalk::get`]).
    pub fn nearest_tags_all(
        &self,
        tags: &HashMap<Oid, Vec<String>>,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<TagWalk, GitError> {
        let boundary = self.shallow_boundary()?;
        let mut starts: Vec<Oid> = Vec::new();
        for glob in ["refs/heads/*", "refs/tags/*"] {
            for r in self.git.references_glob(glob).map_err(self.git_err())? {
                // A ref whose commit this copy lacks (a tag beyond a shallow boundary) starts nothing.
                if let Ok(c) = r.map_err(self.git_err())?.peel_to_commit() {
                    starts.push(c.id());
                }
            }
        }
        let history = held_history(&self.git, starts, &boundary).map_err(self.git_err())?;
        let mut walk = TagWalk { walked: history.iter().map(|(id, ..)| *id).collect(), ..TagWalk::default() };
        for (id, parents, cut) in history {
            let to_cut =
                if cut { Some(0) } else { parents.iter().filter_map(|p| walk.to_cut.get(p)).min().map(|d| d + 1) };
            if let Some(d) = to_cut {
                walk.to_cut.insert(id, d);
            }
            if let Some(t) = tags.get(&id).and_then(|names| names.iter().rev().find(|t| accept(t))) {
                walk.nearest.insert(id, (t.clone(), 0));
                continue;
            }
            let nearest = parents.iter().filter_map(|p| walk.nearest.get(p)).min_by_key(|(_, d)| *d);
            if let Some((t, d)) = nearest.map(|(t, d)| (t.clone(), d + 1)) {
                walk.nearest.insert(id, (t, d));
            }
        }
        Ok(walk)
    }

    /// The nearest tag reachable from `sha` that `accept` takes, and how many commits lie between
    /// (walking newest first, like `git describe`, but skipping tags that are not versions).
    /// `incomplete` is set when the walk met the end of a shallow history before the answer.
    pub fn nearest_tag_where(
        &self,
        sha: &str,
        tags: &HashMap<Oid, Vec<String>>,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<NearestTag, GitError> {
        let oid = self.ensure_commit(sha)?;
        let boundary = self.shallow_boundary()?;
        // Newest first by committer time, as `git describe` counts.
        let mut queue: BinaryHeap<(i64, Oid)> = BinaryHeap::new();
        let mut seen: HashSet<Oid> = HashSet::from([oid]);
        let time = |id: Oid| self.git.find_commit(id).map(|c| c.time().seconds()).map_err(self.git_err());
        queue.push((time(oid)?, oid));
        let mut incomplete = false;
        let mut distance = 0;
        while let Some((_, id)) = queue.pop() {
            if let Some(t) = tags.get(&id).and_then(|names| names.iter().rev().find(|t| accept(t))) {
                return Ok(NearestTag { tag: Some((t.clone(), distance)), incomplete });
            }
            let commit = self.git.find_commit(id).map_err(self.git_err())?;
            let (parents, cut) = held_parents(&self.git, &commit, &boundary);
            incomplete |= cut;
            for p in parents {
                if seen.insert(p) {
                    queue.push((time(p)?, p));
                }
            }
            distance += 1;
        }
        Ok(NearestTag { tag: None, incomplete })
    }
}

/// A clone of a shallow source (a CI cache, a `--shallow-since` copy) holds commits whose parents
/// it lacks, but libgit2 does not mark it shallow: git then calls the copy corrupt, and nothing
/// says where its history ends. Record those commits in its `shallow` file, as git would.
fn mark_cut_history(repo: &Repository) -> Result<(), git2::Error> {
    let mut starts: Vec<Oid> = Vec::new();
    for r in repo.references()? {
        if let Ok(c) = r?.peel_to_commit() {
            starts.push(c.id());
        }
    }
    let cut: BTreeSet<Oid> = held_history(repo, starts, &HashSet::new())?
        .into_iter()
        .filter(|(_, _, cut)| *cut)
        .map(|(id, ..)| id)
        .collect();
    if cut.is_empty() {
        return Ok(());
    }
    write_shallow(repo, &cut).map_err(|e| git2::Error::from_str(&e.to_string()))
}

/// Writes `repo`'s `shallow` file (git's list of commits whose history ends there), or removes
/// it when there are none.
fn write_shallow(repo: &Repository, commits: &BTreeSet<Oid>) -> std::io::Result<()> {
    let file = repo.path().join("shallow");
    if commits.is_empty() {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    std::fs::write(file, commits.iter().map(|id| format!("{id}\n")).collect::<String>())
}

/// The parents of `commit` that `repo` holds, and whether its history is cut there: a shallow
/// boundary commit, or a parent object absent from a partial copy. libgit2's own revision walk
/// fails there with "object not found", so the walks here follow parents themselves.
fn held_parents(repo: &Repository, commit: &git2::Commit<'_>, boundary: &HashSet<Oid>) -> (Vec<Oid>, bool) {
    let recorded = recorded_parents(commit);
    if boundary.contains(&commit.id()) {
        return (Vec::new(), !recorded.is_empty());
    }
    let mut cut = false;
    let parents = recorded
        .into_iter()
        .filter(|p| {
            let held = repo.find_commit(*p).is_ok();
            cut |= !held;
            held
        })
        .collect();
    (parents, cut)
}

/// Every commit `repo` holds from `starts`, parents first (depth-first, a commit emitted after its
/// parents): each with the parents it holds and whether its history is cut there.
fn held_history(
    repo: &Repository,
    starts: Vec<Oid>,
    boundary: &HashSet<Oid>,
) -> Result<Vec<(Oid, Vec<Oid>, bool)>, git2::Error> {
    let mut parents_of: HashMap<Oid, (Vec<Oid>, bool)> = HashMap::new();
    let mut order: Vec<(Oid, Vec<Oid>, bool)> = Vec::new();
    let mut stack: Vec<(Oid, bool)> = starts.into_iter().rev().map(|o| (o, false)).collect();
    while let Some((id, expanded)) = stack.pop() {
        if expanded {
            if let Some((parents, cut)) = parents_of.get(&id) {
                order.push((id, parents.clone(), *cut));
            }
            continue;
        }
        if parents_of.contains_key(&id) {
            continue;
        }
        let commit = repo.find_commit(id)?;
        let (parents, cut) = held_parents(repo, &commit, boundary);
        stack.push((id, true));
        stack.extend(parents.iter().filter(|p| !parents_of.contains_key(p)).map(|p| (*p, false)));
        parents_of.insert(id, (parents, cut));
    }
    Ok(order)
}

/// The parents a commit object records. Not `Commit::parent_ids`: once libgit2 has read a shallow
/// file (on a fetch) it reports boundary commits as having no parents at all.
fn recorded_parents(commit: &git2::Commit<'_>) -> Vec<Oid> {
    commit
        .raw_header_bytes()
        .split(|b| *b == b'\n')
        .filter_map(|line| line.strip_prefix(b"parent "))
        .filter_map(|hex| std::str::from_utf8(hex).ok().and_then(|h| Oid::from_str(h.trim()).ok()))
        .collect()
}

/// Every commit's nearest accepted tag, from one walk over the history a mirror holds.
#[derive(Debug, Default)]
pub struct TagWalk {
    /// Commit → (tag, distance in commits).
    pub nearest: HashMap<Oid, (String, usize)>,
    /// Commit → distance to the nearest point where its history is cut (a shallow boundary).
    to_cut: HashMap<Oid, usize>,
    /// Every commit the walk reached.
    walked: HashSet<Oid>,
}

impl TagWalk {
    /// The nearest tag of `commit` (when it was walked), and whether a nearer one may lie beyond
    /// a cut in the history: the cut is closer than the tag found, or no tag was found before it.
    pub fn get(&self, commit: Oid) -> Option<NearestTag> {
        let tag = self.nearest.get(&commit).cloned();
        let walked = self.walked.contains(&commit);
        let incomplete = match (&tag, self.to_cut.get(&commit)) {
            (Some((_, d)), Some(cut)) => cut < d,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        walked.then_some(NearestTag { tag, incomplete })
    }
}

/// A nearest-tag answer, and whether the history it came from was complete enough to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearestTag {
    /// The tag and how many commits lie between it and the commit.
    pub tag: Option<(String, usize)>,
    /// The walk reached the end of a shallow history first: a nearer tag may lie beyond it.
    pub incomplete: bool,
}

/// How much history a snapshot keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum History {
    /// Every commit reachable from the snapshot's commit (what `git log` in a clone would show).
    #[default]
    Full,
    /// Only the commit itself, marked shallow.
    Shallow,
}

impl Mirror {
    /// Writes a working copy of `sha` to `dest` (created): a fresh repository holding only the
    /// objects reachable from `sha` (or only `sha` and its tree with [`History::Shallow`]), HEAD
    /// detached at `sha`, no remote, no branch, no tag — nothing newer than `sha` can be read
    /// from it (FACTS.md "Integrity"). Its objects are stored as [`Mirror::store_layout`] says,
    /// so that a layer over the checkout can keep what another commit shares and delete the rest
    /// ([`Mirror::repository_over`]).
    pub fn snapshot(&self, sha: &str, dest: &Path, history: History) -> Result<(), GitError> {
        let oid = self.ensure_commit(sha)?;
        let derr = |source| GitError::Git { path: dest.to_path_buf(), source };
        let repo = Repository::init(dest).map_err(derr)?;
        let (units, cut) = self.store_layout(oid, history)?;
        self.write_store(&units, &repo, dest)?;
        write_shallow(&repo, &cut).map_err(|source| GitError::Io { path: dest.to_path_buf(), source })?;
        repo.set_head_detached(oid).map_err(derr)?;
        repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force())).map_err(derr)?;
        // `git init` leaves sample hooks and a default branch name behind; none of it is needed.
        let _ = std::fs::remove_dir_all(dest.join(".git/hooks"));
        Ok(())
    }
}

#[cfg(test)]
mod tests_support {
    use std::path::Path;
    use std::process::Command;

    /// What `instance.sh` does with the repository: the files of the lower checkout's object
    /// store that the layer keeps, laid under the layer's own `.git` in `dest`.
    pub fn lay_over(lower: &Path, dest: &Path, layer: &super::RepositoryLayer) {
        for k in &layer.keep {
            let (from, to) = (lower.join(".git/objects").join(k), dest.join(".git/objects").join(k));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, to).unwrap();
        }
    }

    pub fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
            .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn commit(dir: &Path, file: &str, text: &str, msg: &str) -> String {
        std::fs::write(dir.join(file), text).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", msg]);
        git(dir, &["rev-parse", "HEAD"])
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    #[test]
    fn mirror_reads_files_at_commits_fetches_new_ones_and_describes() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("acme/widgets");
        std::fs::create_dir_all(&up).unwrap();
        git(&up, &["init", "-q", "-b", "main"]);
        let c1 = commit(&up, "version.py", "__version__ = \"1.2.0\"\n", "one");
        git(&up, &["tag", "v1.2.0"]);
        let c2 = commit(&up, "version.py", "__version__ = \"1.3.0.dev0\"\n", "two");

        let mirrors = Mirrors::new(tmp.path().join("mirrors"), format!("file://{}/{{repo}}", tmp.path().display()));
        let repo: RepoName = "acme/widgets".parse().unwrap();
        let m = mirrors.open(&repo).unwrap();
        assert_eq!(m.read_file(&c1, "version.py").unwrap().unwrap(), b"__version__ = \"1.2.0\"\n");
        assert_eq!(m.read_file(&c2, "version.py").unwrap().unwrap(), b"__version__ = \"1.3.0.dev0\"\n");
        assert_eq!(m.read_file(&c2, "missing.py").unwrap(), None);
        // The nearest version tag, through the one-pass walk `pin` uses (`git describe --tags`).
        let nearest = m.nearest_tags_all(&m.tags_by_commit().unwrap(), &|_| true).unwrap();
        let c2_oid = git2::Oid::from_str(&c2).unwrap();
        assert_eq!(nearest.get(c2_oid).and_then(|n| n.tag), Some(("v1.2.0".to_string(), 1)));
        assert_eq!(m.commit_time(&c1).unwrap().to_rfc3339(), "2024-01-02T03:04:05+00:00");

        // A commit made upstream after the clone is fetched on demand.
        let c3 = commit(&up, "new.py", "x = 1\n", "three");
        let again = mirrors.open(&repo).unwrap();
        assert_eq!(again.read_file(&c3, "new.py").unwrap().unwrap(), b"x = 1\n");

        let missing = again.ensure_commit(&"f".repeat(40)).err().unwrap().to_string();
        assert!(missing.contains("not in acme/widgets"), "{missing}");
        assert!(matches!(again.ensure_commit("nope"), Err(GitError::BadSha { .. })));
    }

    #[test]
    fn snapshot_holds_nothing_newer_than_its_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("acme/widgets");
        std::fs::create_dir_all(&up).unwrap();
        git(&up, &["init", "-q", "-b", "main"]);
        let c1 = commit(&up, "a.py", "x = 1\n", "one");
        let c2 = commit(&up, "a.py", "x = 2\n", "two");
        git(&up, &["tag", "v1"]);
        let c3 = commit(&up, "a.py", "x = 3  # the fix\n", "three");
        let mirrors = Mirrors::new(tmp.path().join("mirrors"), format!("file://{}/{{repo}}", tmp.path().display()));
        let m = mirrors.open(&"acme/widgets".parse().unwrap()).unwrap();

        let full = tmp.path().join("full");
        m.snapshot(&c2, &full, History::Full).unwrap();
        assert_eq!(std::fs::read_to_string(full.join("a.py")).unwrap(), "x = 2\n");
        assert_eq!(git(&full, &["rev-parse", "HEAD"]), c2);
        assert_eq!(git(&full, &["rev-list", "--count", "HEAD"]), "2");
        assert_eq!(git(&full, &["for-each-ref"]), "", "no branch, no tag");
        assert_eq!(git(&full, &["remote"]), "");
        assert_eq!(git(&full, &["status", "--porcelain"]), "");
        let objects = git(&full, &["count-objects", "-v"]);
        assert!(!git(&full, &["cat-file", "--batch-all-objects", "--batch-check"]).contains(&c3), "{objects}");
        let _ = c1;

        let shallow = tmp.path().join("shallow");
        m.snapshot(&c2, &shallow, History::Shallow).unwrap();
        assert_eq!(git(&shallow, &["rev-list", "--count", "HEAD"]), "1");
        assert_eq!(git(&shallow, &["status", "--porcelain"]), "");
    }

    #[test]
    fn clone_of_a_missing_repository_names_the_setting() {
        let tmp = tempfile::tempdir().unwrap();
        let mirrors = Mirrors::new(tmp.path().join("m"), format!("file://{}/{{owner}}/{{name}}", tmp.path().display()));
        let err = mirrors.open(&"no/such".parse().unwrap()).err().unwrap().to_string();
        assert!(err.contains("SWEGYM_GIT_URL"), "{err}");
        assert!(!tmp.path().join("m/no__such.git").exists(), "no half mirror left behind");
    }
}

#[cfg(test)]
mod shallow_tests {
    use super::tests_support::*;
    use super::*;

    /// v1.0.0 ← two ← three ← four (v1.1.0) ← five ← six, mirrored with only the last `depth`
    /// commits, as a CI cache or `git fetch --shallow-since` leaves it.
    fn shallow_mirror(tmp: &Path, depth: &str) -> (Mirror, Vec<String>) {
        let up = tmp.join("acme/widgets");
        std::fs::create_dir_all(&up).unwrap();
        git(&up, &["init", "-q", "-b", "main"]);
        let mut shas = vec![commit(&up, "version.py", "__version__ = \"1.0.0\"\n", "one")];
        git(&up, &["tag", "v1.0.0"]);
        for (i, msg) in ["two", "three", "four", "five", "six"].iter().enumerate() {
            shas.push(commit(&up, "a.py", &format!("x = {i}\n"), msg));
            if *msg == "four" {
                git(&up, &["tag", "v1.1.0"]);
            }
        }
        let mirrors = tmp.join("mirrors");
        std::fs::create_dir_all(&mirrors).unwrap();
        let url = format!("file://{}", up.display());
        let dest = mirrors.join("acme__widgets.git");
        git(tmp, &["clone", "-q", "--bare", "--depth", depth, &url, dest.to_str().unwrap()]);
        let m = Mirrors::new(&mirrors, format!("file://{}/{{repo}}", tmp.display()));
        (m.open(&"acme/widgets".parse().unwrap()).unwrap(), shas)
    }

    fn oid(sha: &str) -> Oid {
        Oid::from_str(sha).unwrap()
    }

    #[test]
    fn full_history_snapshots_and_layers_of_a_shallow_mirror_end_where_it_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, shas) = shallow_mirror(tmp.path(), "3");
        let env = tmp.path().join("env");
        m.snapshot(&shas[5], &env, History::Full).unwrap();
        assert_eq!(std::fs::read_to_string(env.join(".git/shallow")).unwrap(), format!("{}\n", shas[3]));
        assert_eq!(git(&env, &["rev-list", "--count", "HEAD"]), "3");
        assert_eq!(git(&env, &["fsck", "--no-progress"]), "");

        let dest = tmp.path().join("instance");
        let layer = m.repository_over(&shas[5], &shas[4], &dest, History::Full).unwrap();
        lay_over(&env, &dest, &layer);
        assert_eq!(std::fs::read_to_string(dest.join(".git/shallow")).unwrap(), format!("{}\n", shas[3]));
        assert_eq!(git(&dest, &["rev-list", "--count", "HEAD"]), "2");
        assert_eq!(git(&dest, &["fsck", "--no-progress"]), "");
        let all = git(&dest, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"]);
        assert!(!all.contains(&shas[5]), "{all}");
    }

    #[test]
    fn shallow_mirror_walks_stop_at_the_boundary_instead_of_failing() {
        let tmp = tempfile::tempdir().unwrap();
        // Holds four, five, six: v1.1.0 is inside, v1.0.0 beyond the boundary.
        let (m, shas) = shallow_mirror(tmp.path(), "3");
        assert_eq!(m.shallow_boundary().unwrap(), HashSet::from([oid(&shas[3])]));
        assert_eq!(m.read_file(&shas[5], "a.py").unwrap().unwrap(), b"x = 4\n");
        let tags = m.tags_by_commit().unwrap();
        let walk = m.nearest_tags_all(&tags, &|_| true).expect("no `object not found`");
        // Six is 2 commits above v1.1.0 and its history is cut 2 commits down, at four itself,
        // where the tag is: nothing beyond can be nearer.
        let six = walk.get(oid(&shas[5])).unwrap();
        assert_eq!(six, NearestTag { tag: Some(("v1.1.0".into(), 2)), incomplete: false });
        // Only v1.0.0 (beyond the boundary) would do: no answer, and it says why.
        let only_old = m.nearest_tags_all(&tags, &|t| t == "v1.0.0").unwrap();
        assert_eq!(only_old.get(oid(&shas[5])), Some(NearestTag { tag: None, incomplete: true }));
        let from = m.nearest_tag_where(&shas[5], &tags, &|t| t == "v1.0.0").unwrap();
        assert_eq!(from, NearestTag { tag: None, incomplete: true });
        let from = m.nearest_tag_where(&shas[5], &tags, &|_| true).unwrap();
        assert_eq!(from, NearestTag { tag: Some(("v1.1.0".into(), 2)), incomplete: false });
    }

    #[test]
    fn a_tag_found_beyond_a_closer_cut_may_be_incomplete() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, shas) = shallow_mirror(tmp.path(), "3");
        // Tag five (one above the boundary) as well; from six the nearest is then five, at 1:
        // closer than the cut (2), so the answer stands.
        let mut tags = m.tags_by_commit().unwrap();
        tags.insert(oid(&shas[4]), vec!["v1.2.0".into()]);
        let walk = m.nearest_tags_all(&tags, &|_| true).unwrap();
        assert_eq!(walk.get(oid(&shas[5])), Some(NearestTag { tag: Some(("v1.2.0".into(), 1)), incomplete: false }));
        // Accept only v1.1.0 but pretend the boundary were at five: the cut (0 from five) is
        // closer than the tag (1), so a nearer tag may hide beyond it.
        std::fs::write(m.path().join("shallow"), format!("{}\n", shas[4])).unwrap();
        let walk = m.nearest_tags_all(&tags, &|t| t == "v1.1.0").unwrap();
        assert_eq!(walk.get(oid(&shas[5])), Some(NearestTag { tag: None, incomplete: true }));
    }

    #[test]
    fn fetching_a_commit_below_the_boundary_keeps_the_mirror_shallow_and_says_how_to_deepen_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, shas) = shallow_mirror(tmp.path(), "3");
        let err = m.ensure_commit(&shas[0]).expect_err("below the boundary").to_string();
        assert!(err.contains("is shallow: deepen it") && err.contains("--shallow-since"), "{err}");
        assert_eq!(m.shallow_boundary().unwrap(), HashSet::from([oid(&shas[3])]), "libgit2 deleted it; restored");
        let walk = m.nearest_tags_all(&m.tags_by_commit().unwrap(), &|_| true).expect("still walkable");
        assert!(walk.get(oid(&shas[5])).is_some());
    }

    #[test]
    fn a_clone_of_a_shallow_source_is_marked_shallow_where_its_history_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, shas) = shallow_mirror(tmp.path(), "3");
        // That shallow copy becomes the source of a new workspace's mirror.
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("acme")).unwrap();
        std::fs::rename(m.path(), src.join("acme/widgets")).unwrap();
        let ws = Mirrors::new(tmp.path().join("ws-mirrors"), format!("file://{}/{{repo}}", src.display()));
        let clone = ws.open(&"acme/widgets".parse().unwrap()).unwrap();
        assert_eq!(clone.shallow_boundary().unwrap(), HashSet::from([oid(&shas[3])]));
        let err = clone.ensure_commit(&shas[0]).expect_err("below the boundary").to_string();
        assert!(err.contains("is shallow: deepen it"), "{err}");
    }

    #[test]
    fn complete_mirror_answers_are_never_incomplete() {
        let tmp = tempfile::tempdir().unwrap();
        let (m, shas) = shallow_mirror(tmp.path(), "100");
        assert!(m.shallow_boundary().unwrap().is_empty());
        let tags = m.tags_by_commit().unwrap();
        let walk = m.nearest_tags_all(&tags, &|t| t == "v1.0.0").unwrap();
        assert_eq!(walk.get(oid(&shas[5])), Some(NearestTag { tag: Some(("v1.0.0".into(), 5)), incomplete: false }));
    }
}
