//! Git mirrors (git2): one bare mirror per repository under the workspace, cloned once from
//! `SWEGYM_GIT_URL` and fetched again only when a needed commit is missing; files are read at a
//! commit from blobs, without a checkout. A lock file per mirror makes clone and fetch safe when
//! several jobs (or processes) want the same repository at once.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use git2::{FetchOptions, Oid, Repository};

use crate::model::RepoName;

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
    #[error("commit {sha} is not in {repo} (not even after fetching {url})")]
    MissingCommit { repo: String, sha: String, url: String },
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
            let cloned = git2::build::RepoBuilder::new()
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

    /// Makes sure `sha` is present, fetching every ref from the origin once if it is not.
    pub fn ensure_commit(&self, sha: &str) -> Result<Oid, GitError> {
        let oid = Oid::from_str(sha).map_err(|_| GitError::BadSha { sha: sha.to_string() })?;
        if self.git.find_commit(oid).is_ok() {
            return Ok(oid);
        }
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
        }
        match self.git.find_commit(oid) {
            Ok(_) => Ok(oid),
            Err(_) => {
                Err(GitError::MissingCommit { repo: self.repo.clone(), sha: sha.to_string(), url: self.url.clone() })
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
    pub fn tags_by_commit(&self) -> Result<std::collections::HashMap<Oid, Vec<String>>, GitError> {
        let mut out: std::collections::HashMap<Oid, Vec<String>> = std::collections::HashMap::new();
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

    /// For every commit reachable from a branch or tag: the nearest tag `accept` takes among it and
    /// its ancestors, and the distance — one pass over the history in topological order (parents
    /// first), so pinning thousands of instances costs one walk, not one walk each.
    pub fn nearest_tags_all(
        &self,
        tags: &std::collections::HashMap<Oid, Vec<String>>,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<std::collections::HashMap<Oid, (String, usize)>, GitError> {
        let mut walk = self.git.revwalk().map_err(self.git_err())?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE).map_err(self.git_err())?;
        walk.push_glob("refs/heads/*").map_err(self.git_err())?;
        walk.push_glob("refs/tags/*").map_err(self.git_err())?;
        let mut best: std::collections::HashMap<Oid, (String, usize)> = std::collections::HashMap::new();
        for id in walk {
            let id = id.map_err(self.git_err())?;
            if let Some(t) = tags.get(&id).and_then(|names| names.iter().rev().find(|t| accept(t))) {
                best.insert(id, (t.clone(), 0));
                continue;
            }
            let commit = self.git.find_commit(id).map_err(self.git_err())?;
            let nearest = commit
                .parent_ids()
                .filter_map(|p| best.get(&p))
                .min_by_key(|(_, d)| *d)
                .map(|(t, d)| (t.clone(), d + 1));
            if let Some(n) = nearest {
                best.insert(id, n);
            }
        }
        Ok(best)
    }

    /// The nearest tag reachable from `sha` that `accept` takes, and how many commits lie between
    /// (walking newest first, like `git describe`, but skipping tags that are not versions).
    pub fn nearest_tag_where(
        &self,
        sha: &str,
        tags: &std::collections::HashMap<Oid, Vec<String>>,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<Option<(String, usize)>, GitError> {
        let oid = self.ensure_commit(sha)?;
        let mut walk = self.git.revwalk().map_err(self.git_err())?;
        // Commit-time order yields commits as it goes; adding TOPOLOGICAL would make libgit2 walk
        // the whole history before the first one (measured: 20x slower per instance).
        walk.set_sorting(git2::Sort::TIME).map_err(self.git_err())?;
        walk.push(oid).map_err(self.git_err())?;
        for (distance, id) in walk.enumerate() {
            let id = id.map_err(self.git_err())?;
            if let Some(names) = tags.get(&id) {
                if let Some(t) = names.iter().rev().find(|t| accept(t)) {
                    return Ok(Some((t.clone(), distance)));
                }
            }
        }
        Ok(None)
    }
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
    /// objects reachable from `sha` (or only `sha` itself with [`History::Shallow`]), HEAD
    /// detached at `sha`, no remote, no branch, no tag — nothing newer than `sha` can be read
    /// from it (FACTS.md "Integrity").
    pub fn snapshot(&self, sha: &str, dest: &Path, history: History) -> Result<(), GitError> {
        let oid = self.ensure_commit(sha)?;
        let derr = |source| GitError::Git { path: dest.to_path_buf(), source };
        let mut pb = self.git.packbuilder().map_err(self.git_err())?;
        match history {
            History::Full => {
                let mut walk = self.git.revwalk().map_err(self.git_err())?;
                walk.push(oid).map_err(self.git_err())?;
                pb.insert_walk(&mut walk).map_err(self.git_err())?;
            }
            History::Shallow => pb.insert_commit(oid).map_err(self.git_err())?,
        }
        let repo = Repository::init(dest).map_err(derr)?;
        {
            let odb = repo.odb().map_err(derr)?;
            let mut writer = odb.packwriter().map_err(derr)?;
            let mut failed = None;
            pb.foreach(|chunk| match std::io::Write::write_all(&mut writer, chunk) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })
            .map_err(self.git_err())?;
            if let Some(source) = failed {
                return Err(GitError::Io { path: dest.to_path_buf(), source });
            }
            writer.commit().map_err(derr)?;
        }
        if history == History::Shallow {
            std::fs::write(dest.join(".git/shallow"), format!("{oid}\n"))
                .map_err(|source| GitError::Io { path: dest.to_path_buf(), source })?;
        }
        repo.set_head_detached(oid).map_err(derr)?;
        repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force())).map_err(derr)?;
        // `git init` leaves sample hooks and a default branch name behind; none of it is needed.
        let _ = std::fs::remove_dir_all(dest.join(".git/hooks"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
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

    fn commit(dir: &Path, file: &str, text: &str, msg: &str) -> String {
        std::fs::write(dir.join(file), text).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", msg]);
        git(dir, &["rev-parse", "HEAD"])
    }

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
        assert_eq!(nearest.get(&c2_oid).cloned(), Some(("v1.2.0".to_string(), 1)));
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
