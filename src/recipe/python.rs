//! Choosing a Python for a repository without a recipe, from its packaging metadata at the
//! environment commit: the newest `Programming Language :: Python :: 3.X` classifier (what the
//! project said it supported then), else the lower bound of `python_requires` / `requires-python`.

use std::sync::LazyLock;

use regex::Regex;

use super::PythonVersion;
use crate::git::{GitError, Mirror};

/// Used when nothing in the repository says which Python it wants.
pub const DEFAULT_PYTHON: PythonVersion = PythonVersion(3, 11);

static CLASSIFIER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Programming Language :: Python :: 3\.(\d+)\b").expect("static regex"));
static REQUIRES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:python_requires|requires-python|requires_python)\s*=\s*["']?\s*>=?\s*3\.(\d+)"#)
        .expect("static regex")
});

/// The Python to use and where the choice came from (`classifiers:setup.py`, `requires-python:pyproject.toml`,
/// `default`).
pub fn infer(mirror: &Mirror, sha: &str) -> Result<(PythonVersion, String), GitError> {
    let files = ["pyproject.toml", "setup.cfg", "setup.py"];
    let mut texts = vec![];
    for f in files {
        if let Some(b) = mirror.read_file(sha, f)? {
            texts.push((f, String::from_utf8_lossy(&b).into_owned()));
        }
    }
    Ok(from_texts(&texts))
}

/// [`infer`] on file texts already read.
pub fn from_texts(texts: &[(&str, String)]) -> (PythonVersion, String) {
    let mut best: Option<(u32, &str)> = None;
    for (f, t) in texts {
        for c in CLASSIFIER.captures_iter(t) {
            if let Ok(minor) = c[1].parse::<u32>() {
                if best.is_none_or(|(b, _)| minor > b) {
                    best = Some((minor, *f));
                }
            }
        }
    }
    if let Some((minor, f)) = best {
        return (PythonVersion(3, minor), format!("classifiers:{f}"));
    }
    for (f, t) in texts {
        if let Some(minor) = REQUIRES.captures(t).and_then(|c| c[1].parse::<u32>().ok()) {
            return (PythonVersion(3, minor), format!("requires-python:{f}"));
        }
    }
    (DEFAULT_PYTHON, "default".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_classifier_wins_over_requires_python() {
        let setup = "python_requires='>=3.6',\nclassifiers=['Programming Language :: Python :: 3.6',\n\
                     'Programming Language :: Python :: 3.8', 'Programming Language :: Python :: 3.7']";
        assert_eq!(from_texts(&[("setup.py", setup.into())]), (PythonVersion(3, 8), "classifiers:setup.py".into()));
    }

    #[test]
    fn requires_python_lower_bound_then_default() {
        let pyproject = "[project]\nrequires-python = \">=3.9\"\n";
        assert_eq!(
            from_texts(&[("pyproject.toml", pyproject.into())]),
            (PythonVersion(3, 9), "requires-python:pyproject.toml".into())
        );
        assert_eq!(from_texts(&[]), (DEFAULT_PYTHON, "default".into()));
    }
}
