//! The difference between two commits' working trees, as what an image layer needs to turn a
//! checkout of one into a checkout of the other: the files to write and the paths to remove. With
//! [`Mirror::repository_over`] (the objects the target's repository needs that the lower
//! checkout's lacks), an instance image is the environment's checkout plus these deltas — a few
//! files and objects — instead of a second copy of the whole checkout and its repository.

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
    /// `from` with [`History::Shallow`] (whose objects are loose, one file each): HEAD detached at
    /// `to`, a pack of the objects `to`'s repository needs that `from`'s lacks (every commit up to
    /// `to`, or `to` alone with [`History::Shallow`]), and no working tree, index, remote, branch
    /// or tag. Returns which of `from`'s loose objects `to`'s repository shares: the layer keeps
    /// those and deletes the rest (`from` itself and everything only it has), so the result holds
    /// exactly what a fresh snapshot of `to` would, nothing newer — and an instance layer carries
    /// only the objects that differ instead of a second copy of the repository.
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
        let (have, _) = self.objects(from, History::Shallow)?;
        let (need, cut) = self.objects(to, history)?;
        let repo = Repository::init(dest).map_err(derr)?;
        let mut added: Vec<Oid> = need.difference(&have).copied().collect();
        added.sort();
        self.write_pack(&added, &repo, dest)?;
        write_shallow(&repo, &cut).map_err(|source| GitError::Io { path: dest.to_path_buf(), source })?;
        // Written by hand: libgit2 refuses a HEAD whose commit it cannot read, and the commit may
        // be among the objects the layer keeps rather than in the pack.
        std::fs::write(repo.path().join("HEAD"), format!("{to}\n"))
            .map_err(|source| GitError::Io { path: dest.to_path_buf(), source })?;
        let _ = std::fs::remove_dir_all(dest.join(".git/hooks"));
        let mut keep: Vec<String> = need.intersection(&have).map(|o| loose_object_path(*o)).collect();
        keep.sort();
        Ok(RepositoryLayer { removed: have.len() - keep.len(), keep, added: added.len() })
    }
}

/// What [`Mirror::repository_over`] wrote, and which of the lower checkout's objects stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryLayer {
    /// The lower checkout's loose objects to keep, as paths under `.git/objects` (`ab/cdef…`),
    /// sorted bytewise.
    pub keep: Vec<String>,
    /// Objects in the new pack.
    pub added: usize,
    /// Lower objects the layer deletes.
    pub removed: usize,
}

/// Where git stores `oid` as a loose object, under `.git/objects`.
pub fn loose_object_path(oid: Oid) -> String {
    let hex = oid.to_string();
    format!("{}/{}", &hex[..2], &hex[2..])
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::*;
    use super::*;
    use crate::git::Mirrors;

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

    /// Every object file under `dir/.git/objects` (loose objects as `ab/cdef…`, packs by name).
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

    #[test]
    fn an_instance_repository_over_the_environment_ships_only_the_objects_that_differ() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("acme/widgets");
        std::fs::create_dir_all(up.join("pkg")).unwrap();
        git(&up, &["init", "-q", "-b", "main"]);
        std::fs::write(up.join("pkg/big.json"), "[1, 2, 3]\n".repeat(1000)).unwrap();
        let root = commit(&up, "a.py", "x = 0\n", "root");
        let base = commit(&up, "a.py", "x = 1\n", "base");
        std::fs::write(up.join("pkg/new.py"), "n = 1\n").unwrap();
        let env = commit(&up, "a.py", "x = 2  # the fix\n", "env, later");
        let m = Mirrors::new(tmp.path().join("mirrors"), format!("file://{}/{{repo}}", tmp.path().display()))
            .open(&"acme/widgets".parse().unwrap())
            .unwrap();

        // The environment's checkout: shallow, every object loose.
        let envdir = tmp.path().join("env");
        m.snapshot(&env, &envdir, History::Shallow).unwrap();
        let env_objects = object_files(&envdir);
        assert!(env_objects.iter().all(|f| !f.starts_with("pack/")), "{env_objects:?}");
        assert!(env_objects.contains(&loose_object_path(Oid::from_str(&env).unwrap())));
        assert_eq!(git(&envdir, &["rev-list", "--count", "HEAD"]), "1");
        assert_eq!(git(&envdir, &["fsck", "--no-progress"]), "");

        for history in [History::Shallow, History::Full] {
            let dest = tmp.path().join(format!("instance-{history:?}"));
            let layer = m.repository_over(&env, &base, &dest, history).unwrap();
            // What stays is the environment's, and not its commit nor its new files.
            assert!(layer.keep.iter().all(|k| env_objects.contains(k)), "{layer:?}");
            assert!(!layer.keep.contains(&loose_object_path(Oid::from_str(&env).unwrap())), "{layer:?}");
            // big.json is shared: neither re-sent nor deleted.
            let big = git(&up, &["rev-parse", &format!("{base}:pkg/big.json")]);
            assert!(layer.keep.contains(&loose_object_path(Oid::from_str(&big).unwrap())));
            // No working tree, HEAD at base; with the kept objects laid in, exactly base's.
            assert!(!dest.join("a.py").exists());
            for k in &layer.keep {
                let (from, to) = (envdir.join(".git/objects").join(k), dest.join(".git/objects").join(k));
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(from, to).unwrap();
            }
            assert_eq!(git(&dest, &["rev-parse", "HEAD"]), base);
            let all = git(&dest, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"]);
            assert!(!all.contains(&env), "{all}");
            let expected = match history {
                History::Shallow => git(&up, &["rev-list", "--objects", "--no-walk", &base]),
                History::Full => git(&up, &["rev-list", "--objects", &base]),
            };
            let mut expected: Vec<&str> = expected.lines().map(|l| &l[..40]).collect();
            expected.sort();
            let mut got: Vec<&str> = all.lines().collect();
            got.sort();
            assert_eq!(got, expected, "{history:?}");
            let commits = if history == History::Shallow { "1" } else { "2" };
            assert_eq!(git(&dest, &["rev-list", "--count", "HEAD"]), commits);
            assert_eq!(layer.added + layer.keep.len(), expected.len(), "{layer:?}");
            assert_eq!(git(&dest, &["fsck", "--no-progress"]), "");
        }
        let _ = root;

        // The instance at the environment's own commit: nothing to add, everything kept.
        let same = tmp.path().join("instance-same");
        let layer = m.repository_over(&env, &env, &same, History::Shallow).unwrap();
        assert_eq!((layer.added, layer.removed, layer.keep.len()), (0, 0, env_objects.len()), "{layer:?}");
        assert_eq!(std::fs::read_to_string(same.join(".git/HEAD")).unwrap(), format!("{env}\n"));
    }

    #[test]
    fn unsafe_tree_paths_are_never_written() {
        assert_eq!(safe_path(Path::new("pkg/a.py")).as_deref(), Some("pkg/a.py"));
        assert_eq!(safe_path(Path::new("../etc/passwd")), None);
        assert_eq!(safe_path(Path::new("/etc/passwd")), None);
        assert_eq!(safe_path(Path::new("sub/.GIT/config")), None);
    }
}
