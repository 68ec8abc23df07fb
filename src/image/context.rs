//! Build contexts: the Dockerfile with its labels, the repository checkout and extra files, as
//! one in-memory tar archive for the Engine API.

use std::collections::BTreeMap;

use crate::git::History;
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
