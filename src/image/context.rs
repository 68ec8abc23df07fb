//! Build contexts: the Dockerfile with its labels, the repository checkout and extra files, as
//! one in-memory tar archive for the Engine API.

use std::collections::BTreeMap;

use crate::git::{DeltaContent, History};
use crate::model::RepoName;

use super::Ctx;

/// The Dockerfile with one `LABEL` instruction holding every label, in key order. (Labels passed
/// to the build API become one LABEL step each in the classic builder — a layer commit apiece,
/// ~15 s each on fuse-overlayfs.)
pub(super) fn with_labels(dockerfile: &str, labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{}\nLABEL {}\n", dockerfile.trim_end(), pairs.join(" \\\n      "))
}

/// A tar build context: `Dockerfile`, `testbed/` (the repository at `sha`), the `pip` shim and
/// `files`.
pub(super) async fn make_context(
    cx: &Ctx<'_>,
    repo: &RepoName,
    sha: &str,
    history: History,
    dockerfile: String,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<u8>, String> {
    let mirrors = cx.mirrors.clone();
    let repo = repo.clone();
    let sha = sha.to_string();
    let work = cx.ws.root().join("tmp");
    let pip = cx.opts.templates.pip.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        // Removed when dropped, on every return path.
        let tmp = tempfile::Builder::new()
            .prefix("ctx-")
            .tempdir_in(&work)
            .map_err(|e| format!("cannot create a temporary directory in {}: {e}", work.display()))?;
        let testbed = tmp.path().join("testbed");
        let mirror = mirrors.open(&repo).map_err(|e| e.to_string())?;
        mirror.snapshot(&sha, &testbed, history).map_err(|e| e.to_string())?;
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        let err = |e: std::io::Error| format!("cannot pack the build context: {e}");
        b.append_dir_all("testbed", &testbed).map_err(err)?;
        let mut all = files;
        all.push(("Dockerfile".into(), dockerfile.into_bytes()));
        all.push(("pip".into(), pip.into_bytes()));
        for (path, bytes) in all {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o755);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, &path, &bytes[..]).map_err(err)?;
        }
        b.into_inner().map_err(err)
    })
    .await
    .map_err(|e| format!("context task failed: {e}"))?
}

/// Where the instance archive is unpacked in the container (`instance.sh` reads it from there).
pub(super) const INSTANCE_DIR: &str = "opt/swegym/instance";

/// The archive an instance image is made from, unpacked at `/` in a container of its environment:
/// under [`INSTANCE_DIR`], `remove` (NUL-separated paths), `testbed/` (the files that differ
/// between the environment commit and `base_commit`), `keep` (the environment repository's loose
/// objects that `base_commit`'s repository shares, one path under `.git/objects` per line,
/// sorted bytewise), `git/` (the rest of the repository at `base_commit`: a pack of the objects
/// the environment lacks, HEAD, `shallow`) and `install.sh`. Returns it with the bytes of files
/// it writes into the checkout.
pub(super) async fn instance_archive(
    cx: &Ctx<'_>,
    repo: &RepoName,
    env_commit: &str,
    base_commit: &str,
    history: History,
    install: String,
) -> Result<(Vec<u8>, u64), String> {
    let mirrors = cx.mirrors.clone();
    let repo = repo.clone();
    let (env_commit, base_commit) = (env_commit.to_string(), base_commit.to_string());
    let work = cx.ws.root().join("tmp");
    tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, u64), String> {
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix("instance-")
            .tempdir_in(&work)
            .map_err(|e| format!("cannot create a temporary directory in {}: {e}", work.display()))?;
        let mirror = mirrors.open(&repo).map_err(|e| e.to_string())?;
        let delta = mirror.tree_delta(&env_commit, &base_commit).map_err(|e| e.to_string())?;
        let layer =
            mirror.repository_over(&env_commit, &base_commit, tmp.path(), history).map_err(|e| e.to_string())?;
        let mtime = mirror.commit_time(&base_commit).map(|t| t.timestamp().max(0) as u64).unwrap_or(0);
        let err = |e: std::io::Error| format!("cannot pack the instance archive: {e}");
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(format!("{INSTANCE_DIR}/git"), tmp.path().join(".git")).map_err(err)?;
        let mut remove = Vec::new();
        for p in &delta.remove {
            remove.extend_from_slice(p.as_bytes());
            remove.push(0);
        }
        append_file(&mut b, &format!("{INSTANCE_DIR}/remove"), &remove, 0o644, mtime).map_err(err)?;
        let keep: String = layer.keep.iter().map(|p| format!("{p}\n")).collect();
        append_file(&mut b, &format!("{INSTANCE_DIR}/keep"), keep.as_bytes(), 0o644, mtime).map_err(err)?;
        append_file(&mut b, &format!("{INSTANCE_DIR}/install.sh"), install.as_bytes(), 0o755, mtime).map_err(err)?;
        for f in &delta.write {
            let path = format!("{INSTANCE_DIR}/testbed/{}", f.path);
            match &f.content {
                DeltaContent::File { bytes, executable } => {
                    append_file(&mut b, &path, bytes, if *executable { 0o755 } else { 0o644 }, mtime).map_err(err)?;
                }
                DeltaContent::Symlink(target) => {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    h.set_mtime(mtime);
                    b.append_link(&mut h, &path, target).map_err(err)?;
                }
            }
        }
        Ok((b.into_inner().map_err(err)?, delta.bytes()))
    })
    .await
    .map_err(|e| format!("instance archive task failed: {e}"))?
}

fn append_file(b: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8], mode: u32, mtime: u64) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_cksum();
    b.append_data(&mut h, path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_one_instruction_in_key_order_with_quotes_escaped() {
        let labels = BTreeMap::from([
            ("swegym.tier".to_string(), "env".to_string()),
            ("swegym.recipe".to_string(), "file:C:\\r \"x\"".to_string()),
        ]);
        assert_eq!(
            with_labels("FROM x\n\n", &labels),
            "FROM x\nLABEL swegym.recipe=\"file:C:\\\\r \\\"x\\\"\" \\\n      swegym.tier=\"env\"\n"
        );
    }
}
