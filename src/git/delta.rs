//! The difference between two commits' working trees, as what an image layer needs to turn a
//! checkout of one into a checkout of the other: the files to write and the paths to remove. With
//! [`Mirror::repository_only`] (the `.git` of the target commit alone), an instance image is the
//! environment's checkout plus this delta — a few files — instead of a second copy of the whole
//! checkout.

use std::path::Path;

use git2::{Delta, DiffOptions, Oid, Repository};

use super::{GitError, History, Mirror};

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

    /// Writes `dest/.git` alone for `sha`: the same repository [`Mirror::snapshot`] makes (only
    /// objects reachable from `sha`, or `sha` alone with [`History::Shallow`]; HEAD detached at it;
    /// no remote, branch or tag), without a working tree or an index. The image that receives it
    /// builds the index from the files already there (`git reset`).
    pub fn repository_only(&self, sha: &str, dest: &Path, history: History) -> Result<(), GitError> {
        let oid = self.ensure_commit(sha)?;
        let derr = |source| GitError::Git { path: dest.to_path_buf(), source };
        let repo = Repository::init(dest).map_err(derr)?;
        self.write_pack(oid, &repo, dest, history)?;
        repo.set_head_detached(oid).map_err(derr)?;
        let _ = std::fs::remove_dir_all(dest.join(".git/hooks"));
        Ok(())
    }

    /// Packs the objects reachable from `oid` (or `oid` alone, marked shallow) into `repo`.
    pub(super) fn write_pack(
        &self,
        oid: Oid,
        repo: &Repository,
        dest: &Path,
        history: History,
    ) -> Result<(), GitError> {
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
        if history == History::Shallow {
            std::fs::write(dest.join(".git/shallow"), format!("{oid}\n"))
                .map_err(|source| GitError::Io { path: dest.to_path_buf(), source })?;
        }
        Ok(())
    }
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

        // The repository alone: HEAD at the commit, nothing newer, no working tree.
        let dest = tmp.path().join("instance");
        m.repository_only(&base, &dest, History::Shallow).unwrap();
        assert!(!dest.join("a.py").exists());
        assert_eq!(git(&dest, &["rev-parse", "HEAD"]), base);
        assert!(!git(&dest, &["cat-file", "--batch-all-objects", "--batch-check"]).contains(&env));
        assert_eq!(git(&dest, &["rev-list", "--count", "HEAD"]), "1");
    }

    #[test]
    fn unsafe_tree_paths_are_never_written() {
        assert_eq!(safe_path(Path::new("pkg/a.py")).as_deref(), Some("pkg/a.py"));
        assert_eq!(safe_path(Path::new("../etc/passwd")), None);
        assert_eq!(safe_path(Path::new("/etc/passwd")), None);
        assert_eq!(safe_path(Path::new("sub/.GIT/config")), None);
    }
}
