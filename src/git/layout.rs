//! How a snapshot's repository stores its objects, so that an image layer over its checkout can
//! turn it into another commit's repository by deleting whole files and adding the few objects it
//! still lacks: the commit and its tree as loose objects (one file each), and — with full history
//! — the rest of the history in packs of [`HISTORY_CHUNK`] main-line commits each, oldest first.
//! A layer for an older commit keeps every loose object and every pack that commit's repository
//! holds entirely, deletes the others (whatever is newer goes with them), and ships the objects
//! it needs from those in one pack of its own ([`Mirror::repository_over`]).

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use git2::{ObjectType, Oid, Repository};

use super::{held_history, held_parents, GitError, History, Mirror};

/// Main-line (first-parent) commits whose history one pack of a full snapshot holds. A layer for
/// a commit inside a pack re-ships that pack's part of its history; larger packs compress better
/// and make fewer files.
pub const HISTORY_CHUNK: usize = 64;

/// One file of a snapshot's object store (a pack with its index counts as one), which a layer
/// keeps or deletes whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUnit {
    Loose(Oid),
    /// A pack named after what it holds (`pack-swegym-<hash>`), and its objects.
    Pack {
        name: String,
        objects: Vec<Oid>,
    },
}

impl StoreUnit {
    pub fn objects(&self) -> &[Oid] {
        match self {
            StoreUnit::Loose(oid) => std::slice::from_ref(oid),
            StoreUnit::Pack { objects, .. } => objects,
        }
    }

    /// Its files, as paths under `.git/objects`.
    pub fn paths(&self) -> Vec<String> {
        match self {
            StoreUnit::Loose(oid) => vec![loose_object_path(*oid)],
            StoreUnit::Pack { name, .. } => vec![format!("pack/{name}.idx"), format!("pack/{name}.pack")],
        }
    }
}

/// Where git stores `oid` as a loose object, under `.git/objects`.
pub fn loose_object_path(oid: Oid) -> String {
    let hex = oid.to_string();
    format!("{}/{}", &hex[..2], &hex[2..])
}

/// A pack's name from the objects it holds, so that the same objects always make the same file
/// name whoever wrote them (libgit2 names a pack by the hash of its bytes, which compression may
/// change).
fn pack_name(objects: &[Oid]) -> String {
    let bytes: Vec<u8> = objects.iter().flat_map(|o| o.as_bytes().to_vec()).collect();
    let id = Oid::hash_object(ObjectType::Blob, &bytes).map(|o| o.to_string()).unwrap_or_default();
    format!("pack-swegym-{id}")
}

impl Mirror {
    /// The object store of a snapshot of `oid`: the commit and its tree loose; with
    /// [`History::Full`], every other object of its history in packs of [`HISTORY_CHUNK`]
    /// main-line commits (each pack holding the objects first reachable from its commits, merged
    /// branches included). Also the commits where the history is cut (git's `shallow` file).
    pub fn store_layout(&self, oid: Oid, history: History) -> Result<(Vec<StoreUnit>, BTreeSet<Oid>), GitError> {
        let mut tip = HashSet::from([oid]);
        let tree = self.git.find_commit(oid).map_err(self.git_err())?.tree_id();
        self.walk_tree(tree, &mut tip, &mut Vec::new())?;
        let mut loose: Vec<Oid> = tip.iter().copied().collect();
        loose.sort();
        let mut units: Vec<StoreUnit> = loose.into_iter().map(StoreUnit::Loose).collect();
        match history {
            History::Shallow => Ok((units, BTreeSet::from([oid]))),
            History::Full => {
                let (chunks, cut) = self.history_chunks(oid, tip)?;
                units.extend(chunks.into_iter().map(|objects| StoreUnit::Pack { name: pack_name(&objects), objects }));
                Ok((units, cut))
            }
        }
    }

    /// The history of `tip` not in `seen`, in chunks of [`HISTORY_CHUNK`] main-line commits
    /// from the oldest, and the commits where it is cut.
    fn history_chunks(&self, tip: Oid, mut seen: HashSet<Oid>) -> Result<(Vec<Vec<Oid>>, BTreeSet<Oid>), GitError> {
        let boundary = self.shallow_boundary()?;
        let mut line = vec![tip];
        while let Some(last) = line.last() {
            let commit = self.git.find_commit(*last).map_err(self.git_err())?;
            match held_parents(&self.git, &commit, &boundary).0.first() {
                Some(p) => line.push(*p),
                None => break,
            }
        }
        line.reverse();
        let (mut cut, mut walked, mut chunks, mut chunk) = (BTreeSet::new(), HashSet::new(), Vec::new(), Vec::new());
        for (i, main) in line.iter().enumerate() {
            let mut stack = vec![*main];
            while let Some(id) = stack.pop() {
                if !walked.insert(id) {
                    continue;
                }
                let commit = self.git.find_commit(id).map_err(self.git_err())?;
                let (parents, is_cut) = held_parents(&self.git, &commit, &boundary);
                if is_cut {
                    cut.insert(id);
                }
                stack.extend(parents.into_iter().filter(|p| !walked.contains(p)));
                if seen.insert(id) {
                    chunk.push(id);
                }
                self.walk_tree(commit.tree_id(), &mut seen, &mut chunk)?;
            }
            if ((i + 1) % HISTORY_CHUNK == 0 || i + 1 == line.len()) && !chunk.is_empty() {
                chunk.sort();
                chunks.push(std::mem::take(&mut chunk));
            }
        }
        Ok((chunks, cut))
    }

    /// Adds `tree` and everything under it that `seen` lacks to `seen` and to `new`. Submodule
    /// commits are not objects of the repository and are left out.
    fn walk_tree(&self, tree: Oid, seen: &mut HashSet<Oid>, new: &mut Vec<Oid>) -> Result<(), GitError> {
        let mut trees = vec![tree];
        while let Some(t) = trees.pop() {
            if !seen.insert(t) {
                continue;
            }
            new.push(t);
            for entry in self.git.find_tree(t).map_err(self.git_err())?.iter() {
                match entry.kind() {
                    Some(ObjectType::Tree) => trees.push(entry.id()),
                    Some(ObjectType::Blob) if seen.insert(entry.id()) => new.push(entry.id()),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The objects a repository of `oid` holds — with [`History::Shallow`] the commit and its
    /// tree, with [`History::Full`] every commit the mirror holds from it and their trees — and
    /// the commits where that history is cut (`oid` itself when shallow; where a shallow
    /// mirror's history ends when full).
    pub(super) fn objects(&self, oid: Oid, history: History) -> Result<(HashSet<Oid>, BTreeSet<Oid>), GitError> {
        let mut cut = BTreeSet::new();
        let commits = match history {
            History::Shallow => {
                cut.insert(oid);
                vec![oid]
            }
            History::Full => {
                let walk = held_history(&self.git, vec![oid], &self.shallow_boundary()?).map_err(self.git_err())?;
                walk.into_iter()
                    .map(|(id, _, is_cut)| {
                        if is_cut {
                            cut.insert(id);
                        }
                        id
                    })
                    .collect()
            }
        };
        let mut objects = HashSet::new();
        let mut scratch = Vec::new();
        for c in commits {
            objects.insert(c);
            let tree = self.git.find_commit(c).map_err(self.git_err())?.tree_id();
            self.walk_tree(tree, &mut objects, &mut scratch)?;
            scratch.clear();
        }
        Ok((objects, cut))
    }

    /// Writes a snapshot's object store into `repo`.
    pub(super) fn write_store(&self, units: &[StoreUnit], repo: &Repository, dest: &Path) -> Result<(), GitError> {
        let derr = |source| GitError::Git { path: dest.to_path_buf(), source };
        let from = self.git.odb().map_err(self.git_err())?;
        let to = repo.odb().map_err(derr)?;
        for unit in units {
            match unit {
                StoreUnit::Loose(oid) => {
                    let obj = from.read(*oid).map_err(self.git_err())?;
                    to.write(obj.kind(), obj.data()).map_err(derr)?;
                }
                StoreUnit::Pack { name, objects } => self.write_pack(objects, repo, dest, Some(name))?,
            }
        }
        Ok(())
    }

    /// Writes `objects` into `repo` as one pack (nothing when there are none), named `name` when
    /// given.
    pub(super) fn write_pack(
        &self,
        objects: &[Oid],
        repo: &Repository,
        dest: &Path,
        name: Option<&str>,
    ) -> Result<(), GitError> {
        if objects.is_empty() {
            return Ok(());
        }
        let io = |source| GitError::Io { path: dest.to_path_buf(), source };
        let mut pb = self.git.packbuilder().map_err(self.git_err())?;
        for oid in objects {
            pb.insert_object(*oid, None).map_err(self.git_err())?;
        }
        let dir = repo.path().join("objects/pack");
        std::fs::create_dir_all(&dir).map_err(io)?;
        pb.write(&dir, 0o444).map_err(self.git_err())?;
        if let Some(name) = name {
            let made = pb.name().map_err(self.git_err())?.map(str::to_string).unwrap_or_default();
            for ext in ["pack", "idx"] {
                std::fs::rename(dir.join(format!("pack-{made}.{ext}")), dir.join(format!("{name}.{ext}")))
                    .map_err(io)?;
            }
        }
        Ok(())
    }
}
