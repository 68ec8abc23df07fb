//! The difference between two commits' working trees, as what an image layer needs to turn a
//! checkout of one into a checkout of the other: the files to write and the paths to remove. With
//! [`Mirror::repository_over`] (the objects the target's repository needs that the lower
//! checkout's lacks), an instance image is the environment's checkout plus these deltas — a few
//! files and objects — instead of a second copy of the whole checkout and its repository.

use std::collections::HashSet;
use std::path::Path;

use git2::{Delta, DiffOptions, Oid, Repository};

use super::{write_shallow, GitError, History, Mirror};

/// What a file of the target tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaContent {
    /// A regular file, with its executable bit.
    File { bytes: Vec<u8>, executable: bool },
    /// A symbolic link and its target.
    Symlink(String),
}

/// One file to write, at a path relative to the checkout's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaFile {
    pub path: String,
    pub content: DeltaContent,
}

/// How to turn a checkout of `from` into one of `to`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeDelta {
    /// Files of `to` that `from` lacks or has with other contents or another mode.
    pub write: Vec<DeltaFile>,
    /// Paths of `from` that `to` does not have as the same kind of entry (removed first).
    pub remove: Vec<String>,
}

impl TreeDelta {
    /// Bytes of file content to write.
    pub fn bytes(&self) -> u64 {
        self.write
            .iter()
            .map(|f| match &f.content {
                DeltaContent::File { bytes, .. } => bytes.len() as u64,
                DeltaContent::Symlink(t) => t.len() as u64,
            })
            .sum()
    }
}

/// A path from a git tree that is safe to join under a checkout root: relative, no `..`, no
/// `.git` component (git itself refuses to check such paths out).
fn safe_path(path: &Path) -> Option<String> {
    use std::path::Component;
    let ok = path.components().all(|c| match c {
        Component::Normal(part) => !part.eq_ignore_ascii_case(".git"),
        _ => false,
    });
    if ok {
        path.to_str().map(str::to_string)
    } else {
        None
    }
}

impl Mirror {
    /// The delta from `from`'s tree to `to`'s tree. Submodules (gitlinks) have no content in a
    /// checkout: a gitlink that goes away is removed (an empty directory), a new one is skipped.
    pub fn tree_delta(&self, from: &str, to: &str) -> Result<TreeDelta, GitError> {
        let from = self.ensure_commit(from)?;
        let to = self.ensure_commit(to)?;
        let tree = |oid: Oid| self.git.find_commit(oid).and_then(|c| c.tree()).map_err(self.git_err());
        let (old, new) = (tree(from)?, tree(to)?);
        let mut opts = DiffOptions::new();
        opts.include_typechange(true).ignore_submodules(false);
        let diff = self.git.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts)).map_err(self.git_err())?;
        let mut out = TreeDelta::default();
        for d in diff.deltas() {
            let old_file = d.old_file();
            let new_file = d.new_file();
            let removes = matches!(d.status(), Delta::Deleted | Delta::Typechange);
            let writes = matches!(d.status(), Delta::Added | Delta::Modified | Delta::Typechange);
            if removes {
                if let Some(p) = old_file.path().and_then(safe_path) {
                    out.remove.push(p);
                }
            }
            if !writes {
                continue;
            }
            let Some(path) = new_file.path().and_then(safe_path) else { continue };
            let content = match new_file.mode() {
                git2::FileMode::Blob | git2::FileMode::BlobGroupWritable | git2::FileMode::BlobExecutable => {
                    let blob = self.git.find_blob(new_file.id()).map_err(self.git_err())?;
                    DeltaContent::File {
                        bytes: blob.content().to_vec(),
                        executable: new_file.mode() == git2::FileMode::BlobExecutable,
                    }
                }
                git2::FileMode::Link => {
                    let blob = self.git.find_blob(new_file.id()).map_err(self.git_err())?;
                    DeltaContent::Symlink(String::from_utf8_lossy(blob.content()).into_owned())
                }
                // Gitlinks (submodules) and trees have no file to write.
                _ => continue,
            };
            out.write.push(DeltaFile { path, content });
        }
        Ok(out)
    }

    /// Writes `dest/.git` for `to` as a layer over a checkout made by [`Mirror::snapshot`] of
    /// `from` with the same `history`: HEAD detached at `to`, the `shallow` file, and a pack of
    /// the objects `to`'s repository needs (every commit up to `to` and their trees, or `to` and
    /// its tree with [`History::Shallow`]) that the files it keeps of `from`'s store do not hold;
    /// no working tree, index, remote, branch or tag. Returns those files: every loose object
    /// and pack of `from`'s store ([`Mirror::store_layout`]) that `to`'s repository holds
    /// entirely. The layer deletes all others — `from` itself and everything only it has go with
    /// them — so the result holds exactly what a fresh snapshot of `to` would, nothing newer, and
    /// an instance layer carries only what differs instead of a second copy of the repository.
    pub fn repository_over(
        &self,
        from: &str,
        to: &str,
        dest: &Path,
        history: History,
    ) -> Result<RepositoryLayer, GitError> {
        let from = self.ensure_commit(from)?;
        let to = self.ensure_commit(to)?;
        let derr = |source| GitError::Git { path: dest.to_path_buf(), source };
        let (units, _) = self.store_layout(from, history)?;
        let (need, cut) = self.objects(to, history)?;
        let mut held = HashSet::new();
        let mut layer = RepositoryLayer::default();
        for unit in &units {
            if unit.objects().iter().all(|o| need.contains(o)) {
                held.extend(unit.objects().iter().copied());
                layer.keep.extend(unit.paths());
            } else {
                layer.removed += unit.paths().len();
            }
        }
        let mut added: Vec<Oid> = need.difference(&held).copied().collect();
        added.sort();
        let repo = Repository::init(dest).map_err(derr)?;
        // A full history arrives in about one pack per 64 main-line commits; git's automatic
        // housekeeping would repack them all (gc.autoPackLimit is 50) on the first `git commit`
        // in a container, minutes of CPU in the middle of an agent's episode.
        repo.config().and_then(|mut c| c.set_i32("gc.auto", 0)).map_err(derr)?;
        self.write_pack(&added, &repo, dest, None)?;
        write_shallow(&repo, &cut).map_err(|source| GitError::Io { path: dest.to_path_buf(), source })?;
        // Written by hand: libgit2 refuses a HEAD whose commit it cannot read, and the commit may
        // be among the objects the layer keeps rather than in the pack.
        std::fs::write(repo.path().join("HEAD"), format!("{to}\n"))
            .map_err(|source| GitError::Io { path: dest.to_path_buf(), source })?;
        let _ = std::fs::remove_dir_all(dest.join(".git/hooks"));
        layer.keep.sort();
        layer.added = added.len();
        Ok(layer)
    }
}

/// What [`Mirror::repository_over`] wrote, and which files of the lower checkout's object store
/// stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryLayer {
    /// Files of the lower checkout's object store to keep, as paths under `.git/objects`
    /// (`ab/cdef…`, `pack/pack-swegym-….pack`), sorted bytewise.
    pub keep: Vec<String>,
    /// Objects in the new pack.
    pub added: usize,
    /// Files of the lower store the layer deletes.
    pub removed: usize,
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::*;
    use super::*;
    use crate::git::layout::HISTORY_CHUNK;
    use crate::git::{loose_object_path, Mirrors};

    #[test]
    fn delta_writes_changed_files_and_removes_what_the_target_lacks() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("acme/widgets");
        std::fs::create_dir_all(up.join("pkg")).unwrap();
        git(&up, &["init", "-q", "-b", "main"]);
        std::fs::write(up.join("pkg/keep.py"), "k = 1\n").unwrap();
        std::fs::write(up.join("pkg/old.py"), "o = 1\n").unwrap();
        std::fs::write(up.join("run.sh"), "#!/bin/sh\n").unwrap();
        git(&up, &["update-index", "--add", "--chmod=+x", "run.sh"]);
        let base = commit(&up, "a.py", "x = 1\n", "base");
        std::fs::remove_file(up.join("pkg/old.py")).unwrap();
        std::fs::write(up.join("pkg/new.py"), "n = 1\n").unwrap();
        std::os::unix::fs::symlink("a.py", up.join("link.py")).unwrap();
        let env = commit(&up, "a.py", "x = 2  # the fix\n", "env, later");
        let m = Mirrors::new(tmp.path().join("mirrors"), format!("file://{}/{{repo}}", tmp.path().display()))
            .open(&"acme/widgets".parse().unwrap())
            .unwrap();

        // From the later environment commit back to the instance's base commit.
        let d = m.tree_delta(&env, &base).unwrap();
        let written: Vec<(&str, &DeltaContent)> = d.write.iter().map(|f| (f.path.as_str(), &f.content)).collect();
        assert_eq!(
            written,
            vec![
                ("a.py", &DeltaContent::File { bytes: b"x = 1\n".to_vec(), executable: false }),
                ("pkg/old.py", &DeltaContent::File { bytes: b"o = 1\n".to_vec(), executable: false }),
            ]
        );
        assert_eq!(d.remove, vec!["link.py".to_string(), "pkg/new.py".to_string()]);
        assert_eq!(d.bytes(), 12);

        // And forwards: the symlink comes back as a symlink.
        let f = m.tree_delta(&base, &env).unwrap();
        assert!(f.write.contains(&DeltaFile { path: "link.py".into(), content: DeltaContent::Symlink("a.py".into()) }));
        assert_eq!(f.remove, vec!["pkg/old.py".to_string()]);
        assert_eq!(m.tree_delta(&env, &env).unwrap(), TreeDelta::default());
    }

    /// Every file under `dir/.git/objects` (loose objects as `ab/cdef…`, packs as `pack/…`).
    fn object_files(dir: &Path) -> Vec<String> {
        let root = dir.join(".git/objects");
        let mut out = Vec::new();
        for sub in std::fs::read_dir(&root).unwrap() {
            let sub = sub.unwrap();
            for f in std::fs::read_dir(sub.path()).unwrap() {
                out.push(format!("{}/{}", sub.file_name().to_string_lossy(), f.unwrap().file_name().to_string_lossy()));
            }
        }
        out.sort();
        out
    }

    /// Every object id `dir`'s repository holds, sorted.
    fn all_objects(dir: &Path) -> Vec<String> {
        let all = git(dir, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"]);
        let mut v: Vec<String> = all.lines().map(str::to_string).collect();
        v.sort();
        v
    }

    /// What `git rev-list --objects` lists from `sha` (`--no-walk`: its tree alone), sorted.
    fn reachable(dir: &Path, sha: &str, walk: bool) -> Vec<String> {
        let mut args = vec!["rev-list", "--objects"];
        if !walk {
            args.push("--no-walk");
        }
        args.push(sha);
        let mut v: Vec<String> = git(dir, &args).lines().map(|l| l[..40].to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn an_instance_repository_over_the_environment_ships_only_the_objects_that_differ() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("acme/widgets");
        std::fs::create_dir_all(up.join("pkg")).unwrap();
        git(&up, &["init", "-q", "-b", "main"]);
        std::fs::write(up.join("pkg/big.json"), "[1, 2, 3]\n".repeat(1000)).unwrap();
        commit(&up, "a.py", "x = 0\n", "root");
        let base = commit(&up, "a.py", "x = 1\n", "base");
        std::fs::write(up.join("pkg/new.py"), "n = 1\n").unwrap();
        let env = commit(&up, "a.py", "x = 2  # the fix\n", "env, later");
        let m = Mirrors::new(tmp.path().join("mirrors"), format!("file://{}/{{repo}}", tmp.path().display()))
            .open(&"acme/widgets".parse().unwrap())
            .unwrap();
        let env_oid = Oid::from_str(&env).unwrap();
        let big = Oid::from_str(&git(&up, &["rev-parse", &format!("{base}:pkg/big.json")])).unwrap();

        for history in [History::Shallow, History::Full] {
            // The environment's checkout: the commit and its tree loose; with full history, the
            // rest in a pack.
            let envdir = tmp.path().join(format!("env-{history:?}"));
            m.snapshot(&env, &envdir, history).unwrap();
            let env_files = object_files(&envdir);
            assert!(env_files.contains(&loose_object_path(env_oid)), "{env_files:?}");
            let packs = env_files.iter().filter(|f| f.ends_with(".pack")).count();
            assert_eq!(packs, if history == History::Shallow { 0 } else { 1 }, "{env_files:?}");
            assert_eq!(all_objects(&envdir), reachable(&up, &env, history == History::Full));
            assert_eq!(git(&envdir, &["fsck", "--no-progress"]), "");

            let dest = tmp.path().join(format!("instance-{history:?}"));
            let layer = m.repository_over(&env, &base, &dest, history).unwrap();
            // What stays is the environment's, and neither its commit nor its new files.
            assert!(layer.keep.iter().all(|k| env_files.contains(k)), "{layer:?}");
            assert!(!layer.keep.contains(&loose_object_path(env_oid)), "{layer:?}");
            // big.json is shared: neither re-sent nor deleted.
            assert!(layer.keep.contains(&loose_object_path(big)), "{layer:?}");
            assert!(!dest.join("a.py").exists());
            // With the kept files laid in: exactly base's objects, HEAD at base, git content.
            lay_over(&envdir, &dest, &layer);
            assert_eq!(git(&dest, &["rev-parse", "HEAD"]), base);
            let all = all_objects(&dest);
            assert!(!all.contains(&env), "{all:?}");
            assert_eq!(all, reachable(&up, &base, history == History::Full), "{history:?}");
            let commits = if history == History::Shallow { "1" } else { "2" };
            assert_eq!(git(&dest, &["rev-list", "--count", "HEAD"]), commits);
            assert_eq!(git(&dest, &["fsck", "--no-progress"]), "");
            assert_eq!(git(&dest, &["config", "gc.auto"]), "0");
        }

        // The instance at the environment's own commit: nothing to add, everything kept.
        let same = tmp.path().join("instance-same");
        let layer = m.repository_over(&env, &env, &same, History::Full).unwrap();
        assert_eq!((layer.added, layer.removed), (0, 0), "{layer:?}");
        assert_eq!(layer.keep, object_files(&tmp.path().join("env-Full")));
        assert_eq!(std::fs::read_to_string(same.join(".git/HEAD")).unwrap(), format!("{env}\n"));
    }

    #[test]
    fn a_full_history_layer_keeps_the_older_history_packs_and_reships_only_the_straddled_one() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("acme/long");
        std::fs::create_dir_all(&up).unwrap();
        git(&up, &["init", "-q", "-b", "main"]);
        let n = 2 * HISTORY_CHUNK + 10;
        let mut shas = Vec::new();
        for i in 0..n {
            shas.push(commit(&up, &format!("f{}.txt", i % 7), &format!("{i}\n"), &format!("c{i}")));
        }
        let m = Mirrors::new(tmp.path().join("mirrors"), format!("file://{}/{{repo}}", tmp.path().display()))
            .open(&"acme/long".parse().unwrap())
            .unwrap();
        let env = shas[n - 1].clone();
        // Inside the second pack: the first is kept whole, the second and third go.
        let base = shas[HISTORY_CHUNK + 5].clone();
        let envdir = tmp.path().join("env");
        m.snapshot(&env, &envdir, History::Full).unwrap();
        let packs: Vec<String> = object_files(&envdir).into_iter().filter(|f| f.ends_with(".pack")).collect();
        assert_eq!(packs.len(), 3, "{packs:?}");
        let dest = tmp.path().join("instance");
        let layer = m.repository_over(&env, &base, &dest, History::Full).unwrap();
        let kept: Vec<&String> = layer.keep.iter().filter(|k| k.ends_with(".pack")).collect();
        assert_eq!(kept.len(), 1, "{layer:?}");
        // Re-shipped: the 6 commits of the second pack up to base, with their trees and blobs,
        // and base's tree (its blobs are kept loose) — not the whole history.
        assert!(layer.added <= 6 * 3 + 1, "{layer:?}");
        lay_over(&envdir, &dest, &layer);
        assert_eq!(all_objects(&dest), reachable(&up, &base, true));
        assert_eq!(git(&dest, &["rev-list", "--count", "HEAD"]), (HISTORY_CHUNK + 6).to_string());
        assert_eq!(git(&dest, &["fsck", "--no-progress"]), "");
    }

    #[test]
    fn unsafe_tree_paths_are_never_written() {
        assert_eq!(safe_path(Path::new("pkg/a.py")).as_deref(), Some("pkg/a.py"));
        assert_eq!(safe_path(Path::new("../etc/passwd")), None);
        assert_eq!(safe_path(Path::new("/etc/passwd")), None);
        assert_eq!(safe_path(Path::new("sub/.GIT/config")), None);
    }
}
