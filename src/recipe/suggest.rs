//! `recipe suggest`: a candidate recipe for a repository that has none, from what the repository
//! says about itself at a commit: packaging metadata (test extras, python_requires, classifiers),
//! requirements files, tox.ini, environment.yml and CI workflows.

use std::fmt::Write;
use std::sync::LazyLock;

use regex::Regex;

use crate::git::{GitError, Mirror};
use crate::model::RepoName;

use super::python;

/// Extras that usually hold test dependencies, in order of preference.
const TEST_EXTRAS: &[&str] = &["test", "tests", "testing", "dev"];

/// Requirements files that usually hold test dependencies.
const REQUIREMENT_FILES: &[&str] = &[
    "requirements-dev.txt",
    "requirements_dev.txt",
    "requirements-test.txt",
    "requirements_test.txt",
    "requirements-tests.txt",
    "test-requirements.txt",
    "test_requirements.txt",
    "dev-requirements.txt",
    "requirements/dev.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/testing.txt",
    "requirements.txt",
];

static EXTRA_DECL: LazyLock<Regex> = LazyLock::new(|| {
    // pyproject `[project.optional-dependencies]` keys, setup.cfg `[options.extras_require]` keys,
    // setup.py `extras_require={"test": …}` keys.
    Regex::new(r#"(?m)(?:^\s*["']?([A-Za-z0-9_-]+)["']?\s*=\s*[\[\n]|["']([A-Za-z0-9_-]+)["']\s*:\s*\[)"#)
        .expect("static regex")
});

/// What was found, for the recipe's comments and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub has_pyproject: bool,
    pub has_setup_py: bool,
    pub has_setup_cfg: bool,
    pub extra: Option<String>,
    pub requirement_files: Vec<String>,
    pub tox: bool,
    pub environment_yml: bool,
    pub workflows: Vec<String>,
    pub uses_xdist: bool,
}

/// Inspects `repo` at `commit` and returns a candidate recipe (TOML text).
pub fn suggest(mirror: &Mirror, repo: &RepoName, commit: &str) -> Result<String, GitError> {
    let read = |p: &str| -> Result<Option<String>, GitError> {
        Ok(mirror.read_file(commit, p)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    };
    let mut f = Findings::default();
    let pyproject = read("pyproject.toml")?;
    let setup_cfg = read("setup.cfg")?;
    let setup_py = read("setup.py")?;
    f.has_pyproject = pyproject.is_some();
    f.has_setup_cfg = setup_cfg.is_some();
    f.has_setup_py = setup_py.is_some();
    let meta: String =
        [&pyproject, &setup_cfg, &setup_py].iter().filter_map(|t| t.as_deref()).collect::<Vec<_>>().join("\n");
    let declared: Vec<String> = EXTRA_DECL
        .captures_iter(&meta)
        .filter_map(|c| c.get(1).or(c.get(2)).map(|m| m.as_str().to_lowercase()))
        .collect();
    f.extra = TEST_EXTRAS.iter().find(|e| declared.iter().any(|d| d == *e)).map(|e| e.to_string());
    for r in REQUIREMENT_FILES {
        if mirror.read_file(commit, r)?.is_some() {
            f.requirement_files.push(r.to_string());
        }
    }
    let tox = read("tox.ini")?;
    f.tox = tox.is_some();
    f.environment_yml = read("environment.yml")?.is_some();
    let mut ci_text = String::new();
    for w in ["ci.yml", "ci.yaml", "test.yml", "tests.yml", "main.yml", "python-package.yml", "testing.yml"] {
        let p = format!(".github/workflows/{w}");
        if let Some(t) = read(&p)? {
            f.workflows.push(p);
            ci_text.push_str(&t);
        }
    }
    f.uses_xdist = meta.contains("pytest-xdist")
        || ci_text.contains("pytest-xdist")
        || tox.as_deref().unwrap_or("").contains("xdist");
    let texts: Vec<(&str, String)> =
        [("pyproject.toml", &pyproject), ("setup.cfg", &setup_cfg), ("setup.py", &setup_py)]
            .iter()
            .filter_map(|(n, t)| t.as_ref().map(|t| (*n, t.clone())))
            .collect();
    let (py, py_source) = python::from_texts(&texts);
    Ok(render(repo, commit, &f, &py.to_string(), &py_source))
}

/// The recipe text for what was found.
pub fn render(repo: &RepoName, commit: &str, f: &Findings, py: &str, py_source: &str) -> String {
    let package = repo.name().to_lowercase().replace('-', "_");
    let mut install = vec![];
    let installable = f.has_pyproject || f.has_setup_py || f.has_setup_cfg;
    let test_reqs: Vec<&String> = f.requirement_files.iter().filter(|r| r.as_str() != "requirements.txt").collect();
    if f.requirement_files.iter().any(|r| r == "requirements.txt") {
        install.push("pip install -r requirements.txt".to_string());
    }
    for r in &test_reqs {
        install.push(format!("pip install -r {r}"));
    }
    if installable {
        match &f.extra {
            Some(e) => install.push(format!("pip install -e '.[{e}]'")),
            None => install.push("pip install -e .".to_string()),
        }
    }
    let mut s = String::new();
    let _ = writeln!(s, "# Suggested by `swegym-build recipe suggest` from {repo} at {commit}.");
    let _ = writeln!(s, "# Review it: it is a starting point, not a tested recipe.");
    let _ = writeln!(
        s,
        "# Found: pyproject.toml={} setup.py={} setup.cfg={} test extra={} requirements={:?} tox.ini={} environment.yml={} workflows={:?}",
        f.has_pyproject,
        f.has_setup_py,
        f.has_setup_cfg,
        f.extra.as_deref().unwrap_or("none"),
        f.requirement_files,
        f.tox,
        f.environment_yml,
        f.workflows
    );
    let _ = writeln!(s, "repo = \"{repo}\"");
    let _ = writeln!(s, "package = \"{package}\"\n");
    let _ = writeln!(s, "[version]");
    let _ = writeln!(s, "# The nearest tag; switch to rule = \"file\" with a file and a pattern if the project keeps its version in a file.");
    let _ = writeln!(s, "rule = \"tag\"");
    let _ = writeln!(s, "pattern = '^v?(\\d+\\.\\d+)'\n");
    let _ = writeln!(s, "[[env]]");
    let _ = writeln!(s, "# Python from {py_source}.");
    let _ = writeln!(s, "python = \"{py}\"");
    let quoted: Vec<String> = install.iter().map(|c| format!("\"{}\"", c.replace('"', "\\\""))).collect();
    let _ = writeln!(s, "install = [{}]", quoted.join(", "));
    let _ = writeln!(s, "packages = [\"pytest\"]");
    if installable {
        let _ = writeln!(s, "instance_install = [\"pip install --no-deps -e .\"]");
    }
    let _ = writeln!(s, "test_cmd = \"pytest -rA{}\"", if f.uses_xdist { " -n0" } else { "" });
    let _ = writeln!(s, "\n[log]\nparser = \"pytest\"");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::{Recipe, RecipeSource};

    #[test]
    fn suggested_recipe_uses_the_test_extra_and_requirements_and_parses() {
        let f = Findings {
            has_pyproject: true,
            extra: Some("tests".into()),
            requirement_files: vec!["requirements.txt".into(), "requirements-dev.txt".into()],
            uses_xdist: true,
            ..Default::default()
        };
        let repo: RepoName = "acme/my-lib".parse().unwrap();
        let text = render(&repo, "abc", &f, "3.10", "classifiers:setup.py");
        assert!(text.contains("pip install -e '.[tests]'"), "{text}");
        assert!(text.contains("pip install -r requirements-dev.txt"), "{text}");
        assert!(text.contains("-n0"), "{text}");
        let r = Recipe::parse("suggested", &text, RecipeSource::Suggested).unwrap();
        assert_eq!(r.package, "my_lib");
        assert_eq!(r.envs[0].python.to_string(), "3.10");
    }

    #[test]
    fn extras_are_found_in_pyproject_setup_cfg_and_setup_py() {
        let caps = |t: &str| -> Vec<String> {
            EXTRA_DECL.captures_iter(t).filter_map(|c| c.get(1).or(c.get(2)).map(|m| m.as_str().to_string())).collect()
        };
        assert!(caps("[project.optional-dependencies]\ntest = [\"pytest\"]\n").contains(&"test".to_string()));
        assert!(caps("[options.extras_require]\ntesting =\n    pytest\n").contains(&"testing".to_string()));
        assert!(caps("extras_require={'dev': ['pytest']}").contains(&"dev".to_string()));
    }
}
