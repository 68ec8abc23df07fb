//! Recipes: how to find a repository's version at a commit and how to build and test it, one TOML
//! file per repository (`recipes/<owner>__<name>.toml`, schema in `recipes/README.md`).
//!
//! The recipes in `recipes/` are compiled into the binary; `--recipes DIR` reads a directory
//! instead. A bad recipe is reported with its file, line, field and what was expected.

pub mod python;
pub mod suggest;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::model::RepoName;

/// The `recipes/` directory, embedded whole: a recipe added there cannot be left out of the binary.
static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/recipes");

/// The recipes shipped with the binary: (file name, contents), `*.toml` only (the directory also
/// holds the schema's README).
pub fn embedded_files() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    EMBEDDED
        .files()
        .filter(|f| f.path().extension().is_some_and(|x| x == "toml"))
        .filter_map(|f| Some((f.path().to_str()?, f.contents())))
}

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// Parse or validation failure: `file:line: field: what was expected`.
    #[error("{file}:{line}: {field}: {message}")]
    Invalid { file: String, line: usize, field: String, message: String },
    #[error("cannot read recipes from {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// How the version is read at a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionRule {
    /// A file at the commit and a regex whose first capture group is the version.
    File,
    /// The nearest reachable tag (versioneer, setuptools-scm, `git describe`).
    Tag,
}

/// `file = "a.py"` or `file = ["a.py", "b.py"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    rule: VersionRule,
    file: Option<Spanned<OneOrMany>>,
    pattern: Option<Spanned<String>>,
}

/// How the tests an instance touches are selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestSelection {
    /// Run the test files `test_patch` touches (SWE-bench's rule).
    #[default]
    Files,
    /// mypy's data-driven tests: `-k` with the `[case …]` names the test patch adds or changes.
    MypyCases,
    /// As `MypyCases`, with every `[case …]` name the patch's hunks mention, context lines
    /// included: SWE-Gym's rule, which also selects the case after a hunk (and, `-k` matching
    /// substrings, cases whose names extend it).
    MypyCasesMentioned,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    versions: Option<Spanned<String>>,
    python: Spanned<String>,
    #[serde(default)]
    system_packages: Vec<String>,
    #[serde(default)]
    pre_install: Vec<String>,
    #[serde(default)]
    install: Vec<String>,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    instance_install: Vec<String>,
    test_cmd: String,
    #[serde(default)]
    test_selection: TestSelection,
    #[serde(default)]
    env_vars: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    parser: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    repo: Spanned<String>,
    package: Option<String>,
    version: RawVersion,
    env: Vec<RawEnv>,
    log: Option<RawLog>,
}

/// A `MAJOR.MINOR` version, compared numerically part by part (`0.990 > 0.820`, `1.10 > 1.9`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionKey(pub u64, pub u64);

impl VersionKey {
    /// Parses `5.0`, `0.820`, `2023.8` (anything after the minor part is ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.trim().split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(Self(major, minor))
    }
}

/// A range of versions: `*`, or comparisons joined by commas (`>=0.800, <0.930`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    text: String,
    bounds: Vec<(Cmp, VersionKey)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl VersionRange {
    pub fn any() -> Self {
        Self { text: "*".into(), bounds: vec![] }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "*" || t.is_empty() {
            return Ok(Self::any());
        }
        let mut bounds = vec![];
        for part in t.split(',') {
            let p = part.trim();
            let (cmp, rest) = if let Some(r) = p.strip_prefix(">=") {
                (Cmp::Ge, r)
            } else if let Some(r) = p.strip_prefix("<=") {
                (Cmp::Le, r)
            } else if let Some(r) = p.strip_prefix("==") {
                (Cmp::Eq, r)
            } else if let Some(r) = p.strip_prefix('>') {
                (Cmp::Gt, r)
            } else if let Some(r) = p.strip_prefix('<') {
                (Cmp::Lt, r)
            } else {
                (Cmp::Eq, p)
            };
            let key = VersionKey::parse(rest).ok_or_else(|| {
                format!("`{p}` is not a comparison with a MAJOR.MINOR version (e.g. \">=1.0, <2.0\" or \"*\")")
            })?;
            bounds.push((cmp, key));
        }
        Ok(Self { text: t.to_string(), bounds })
    }

    pub fn contains(&self, v: &VersionKey) -> bool {
        self.bounds.iter().all(|(c, k)| match c {
            Cmp::Lt => v < k,
            Cmp::Le => v <= k,
            Cmp::Gt => v > k,
            Cmp::Ge => v >= k,
            Cmp::Eq => v == k,
        })
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A Python `X.Y` the environment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PythonVersion(pub u32, pub u32);

impl PythonVersion {
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.trim().split('.');
        let major: u32 = it.next()?.parse().ok()?;
        let minor: u32 = it.next()?.parse().ok()?;
        if major != 3 || it.next().is_some() {
            return None;
        }
        Some(Self(major, minor))
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// How to read the version at a commit.
#[derive(Debug, Clone)]
pub struct VersionSpec {
    pub rule: VersionRule,
    /// For `file`: paths at the commit, tried in order (a version file that moved over time).
    pub files: Vec<String>,
    /// For `file`: first capture group = version. For `tag`: applied to the tag name (optional).
    pub pattern: Option<Regex>,
}

/// How to build and test one range of versions. Images record the one they were built with (as
/// JSON), so that `validate` runs the tests exactly as the image was meant to run them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    #[serde(serialize_with = "ser_display", deserialize_with = "de_range")]
    pub versions: VersionRange,
    pub python: PythonVersion,
    pub system_packages: Vec<String>,
    pub pre_install: Vec<String>,
    pub install: Vec<String>,
    pub packages: Vec<String>,
    pub instance_install: Vec<String>,
    pub test_cmd: String,
    pub test_selection: TestSelection,
    pub env_vars: BTreeMap<String, String>,
}

fn ser_display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn de_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<VersionRange, D::Error> {
    let text = String::deserialize(d)?;
    VersionRange::parse(&text).map_err(serde::de::Error::custom)
}

impl EnvSpec {
    /// The form stored with an image (`images.env_spec`).
    pub fn to_json(&self) -> String {
        // Plain strings, lists and maps: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads back what [`EnvSpec::to_json`] stored.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Where a recipe came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipeSource {
    /// Shipped in the binary.
    Embedded,
    /// Read from a `--recipes` directory.
    File(PathBuf),
    /// Made by `recipe suggest` because the repository has none.
    Suggested,
}

/// One repository's recipe.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub repo: RepoName,
    /// The module the import check imports.
    pub package: String,
    pub version: VersionSpec,
    pub envs: Vec<EnvSpec>,
    pub log_parser: String,
    pub source: RecipeSource,
    /// The file's text, whose hash is part of environment image tags.
    pub text: String,
}

/// The log parsers recipes may name.
pub const LOG_PARSERS: &[&str] = &["pytest"];

impl Recipe {
    /// Parses and checks one recipe. `file` is used in error messages only.
    pub fn parse(file: &str, text: &str, source: RecipeSource) -> Result<Self, RecipeError> {
        let invalid = |span: Option<std::ops::Range<usize>>, field: &str, message: String| RecipeError::Invalid {
            file: file.to_string(),
            line: span.map(|s| line_of(text, s.start)).unwrap_or(1),
            field: field.to_string(),
            message,
        };
        let raw: RawRecipe = toml::from_str(text).map_err(|e| {
            let field = e.message().split('`').nth(1).unwrap_or("(document)").to_string();
            invalid(e.span(), &field, e.message().trim().to_string())
        })?;
        let repo: RepoName = raw
            .repo
            .get_ref()
            .parse()
            .map_err(|e| invalid(Some(raw.repo.span()), "repo", format!("expected OWNER/NAME: {e}")))?;
        let version = {
            let v = &raw.version;
            let pattern = match &v.pattern {
                Some(p) => Some(Regex::new(p.get_ref()).map_err(|e| {
                    invalid(Some(p.span()), "version.pattern", format!("not a valid regular expression: {e}"))
                })?),
                None => None,
            };
            if let Some(re) = &pattern {
                if re.captures_len() < 2 {
                    let span = v.pattern.as_ref().map(|p| p.span());
                    return Err(invalid(span, "version.pattern", "needs a capture group around the version".into()));
                }
            }
            if v.rule == VersionRule::File {
                if v.file.is_none()
                    || matches!(v.file.as_ref().map(|f| f.get_ref()), Some(OneOrMany::Many(fs)) if fs.is_empty())
                {
                    return Err(invalid(
                        None,
                        "version.file",
                        "rule = \"file\" needs `file` (a path at the commit)".into(),
                    ));
                }
                if pattern.is_none() {
                    return Err(invalid(
                        None,
                        "version.pattern",
                        "rule = \"file\" needs `pattern` (a regex whose first group is the version)".into(),
                    ));
                }
            }
            let files = match v.file.as_ref().map(|f| f.get_ref()) {
                Some(OneOrMany::One(f)) => vec![f.clone()],
                Some(OneOrMany::Many(fs)) => fs.clone(),
                None => vec![],
            };
            VersionSpec { rule: v.rule, files, pattern }
        };
        if raw.env.is_empty() {
            return Err(invalid(None, "env", "at least one [[env]] table is needed".into()));
        }
        let mut envs = vec![];
        for (i, e) in raw.env.iter().enumerate() {
            let versions = match &e.versions {
                Some(v) => VersionRange::parse(v.get_ref())
                    .map_err(|m| invalid(Some(v.span()), &format!("env[{i}].versions"), m))?,
                None => VersionRange::any(),
            };
            let python = PythonVersion::parse(e.python.get_ref()).ok_or_else(|| {
                invalid(
                    Some(e.python.span()),
                    &format!("env[{i}].python"),
                    format!("expected a Python version like \"3.11\", got \"{}\"", e.python.get_ref()),
                )
            })?;
            envs.push(EnvSpec {
                versions,
                python,
                system_packages: e.system_packages.clone(),
                pre_install: e.pre_install.clone(),
                install: e.install.clone(),
                packages: e.packages.clone(),
                instance_install: e.instance_install.clone(),
                test_cmd: e.test_cmd.clone(),
                test_selection: e.test_selection,
                env_vars: e.env_vars.clone(),
            });
        }
        let log_parser = match &raw.log {
            Some(l) => {
                if !LOG_PARSERS.contains(&l.parser.get_ref().as_str()) {
                    return Err(invalid(
                        Some(l.parser.span()),
                        "log.parser",
                        format!("unknown parser \"{}\"; expected one of {:?}", l.parser.get_ref(), LOG_PARSERS),
                    ));
                }
                l.parser.get_ref().clone()
            }
            None => "pytest".to_string(),
        };
        let package = raw.package.clone().unwrap_or_else(|| repo.name().to_lowercase().replace('-', "_"));
        Ok(Self { repo, package, version, envs, log_parser, source, text: text.to_string() })
    }

    /// The environment spec for `version`: the first `[[env]]` whose range contains it.
    pub fn env_for(&self, version: &str) -> Option<&EnvSpec> {
        let key = VersionKey::parse(version)?;
        self.envs.iter().find(|e| e.versions.contains(&key))
    }

    /// A short hash of the recipe text (part of environment image tags).
    pub fn hash(&self) -> String {
        short_hash(self.text.as_bytes())
    }
}

/// How a recipe is named in the store and in image labels: `embedded`, `file:<path>`, `suggested`,
/// or `none` for a repository without one.
pub fn recipe_label(recipe: Option<&Recipe>) -> String {
    match recipe.map(|r| &r.source) {
        Some(RecipeSource::Embedded) => "embedded".into(),
        Some(RecipeSource::File(p)) => format!("file:{}", p.display()),
        Some(RecipeSource::Suggested) => "suggested".into(),
        None => "none".into(),
    }
}

/// The first 12 hex digits of a SHA-256.
pub fn short_hash(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The recipes in use, by repository.
#[derive(Debug, Clone, Default)]
pub struct RecipeBook {
    by_repo: BTreeMap<String, Recipe>,
}

impl RecipeBook {
    /// The recipes compiled into the binary.
    pub fn embedded() -> Result<Self, RecipeError> {
        let mut book = Self::default();
        for (name, bytes) in embedded_files() {
            let file = format!("recipes/{name}");
            let text = std::str::from_utf8(bytes).map_err(|e| RecipeError::Invalid {
                file: file.clone(),
                line: 1,
                field: "(document)".into(),
                message: format!("not UTF-8: {e}"),
            })?;
            book.insert(Recipe::parse(&file, text, RecipeSource::Embedded)?);
        }
        Ok(book)
    }

    /// Every `*.toml` in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, RecipeError> {
        let io = |source| RecipeError::Io { path: dir.to_path_buf(), source };
        let mut book = Self::default();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|source| RecipeError::Io { path: p.clone(), source })?;
            book.insert(Recipe::parse(&p.display().to_string(), &text, RecipeSource::File(p.clone()))?);
        }
        Ok(book)
    }

    /// `--recipes DIR` when given, else the embedded recipes.
    pub fn load(dir: Option<&Path>) -> Result<Self, RecipeError> {
        match dir {
            Some(d) => Self::from_dir(d),
            None => Self::embedded(),
        }
    }

    pub fn insert(&mut self, r: Recipe) {
        self.by_repo.insert(r.repo.to_string().to_lowercase(), r);
    }

    pub fn get(&self, repo: &str) -> Option<&Recipe> {
        self.by_repo.get(&repo.to_lowercase())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Recipe> {
        self.by_repo.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
repo = "acme/widgets"

[version]
rule = "file"
file = "widgets/__init__.py"
pattern = '__version__\s*=\s*"([^"]+)"'

[[env]]
versions = "<1.0"
python = "3.9"
install = ["pip install -e ."]
test_cmd = "pytest -rA"

[[env]]
python = "3.11"
install = ["pip install -e ."]
packages = ["pytest<8"]
test_cmd = "pytest -rA"
"#;

    #[test]
    fn recipe_parses_and_picks_the_first_matching_env() {
        let r = Recipe::parse("w.toml", GOOD, RecipeSource::Embedded).unwrap();
        assert_eq!(r.package, "widgets");
        assert_eq!(r.env_for("0.9").unwrap().python, PythonVersion(3, 9));
        assert_eq!(r.env_for("1.2").unwrap().python, PythonVersion(3, 11));
        assert_eq!(r.log_parser, "pytest");
        assert_eq!(r.hash().len(), 12);
    }

    #[test]
    fn recipe_unknown_field_names_file_line_and_field() {
        let bad = GOOD.replace(
            "test_cmd = \"pytest -rA\"\n\n[[env]]",
            "test_cmd = \"pytest -rA\"\ntest_command = \"x\"\n\n[[env]]",
        );
        let e = Recipe::parse("recipes/w.toml", &bad, RecipeSource::Embedded).unwrap_err().to_string();
        assert!(e.starts_with("recipes/w.toml:14: test_command:"), "{e}");
        assert!(e.contains("expected one of"), "{e}");
    }

    #[test]
    fn recipe_bad_python_and_bad_range_and_bad_regex_are_located() {
        let e = Recipe::parse("w.toml", &GOOD.replace("\"3.9\"", "\"three\""), RecipeSource::Embedded)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("w.toml:11: env[0].python: expected a Python version"), "{e}");
        let e = Recipe::parse("w.toml", &GOOD.replace("\"<1.0\"", "\"before 1\""), RecipeSource::Embedded)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("w.toml:10: env[0].versions:"), "{e}");
        let e = Recipe::parse(
            "w.toml",
            &GOOD.replace(r#"'__version__\s*=\s*"([^"]+)"'"#, "'(unclosed'"),
            RecipeSource::Embedded,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("w.toml:7: version.pattern: not a valid regular expression"), "{e}");
        let e = Recipe::parse("w.toml", &GOOD.replace("rule = \"file\"", "rule = \"guess\""), RecipeSource::Embedded)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("w.toml:5: "), "{e}");
        assert!(e.contains("file") && e.contains("tag"), "names the expected values: {e}");
    }

    #[test]
    fn recipe_missing_required_field_is_named() {
        let e = Recipe::parse(
            "w.toml",
            &GOOD.replace("test_cmd = \"pytest -rA\"\n\n[[env]]", "\n[[env]]"),
            RecipeSource::Embedded,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("test_cmd"), "{e}");
    }

    #[test]
    fn version_ranges_compare_numerically() {
        let r = VersionRange::parse(">=0.800, <0.930").unwrap();
        assert!(r.contains(&VersionKey::parse("0.820").unwrap()));
        assert!(!r.contains(&VersionKey::parse("0.990").unwrap()));
        assert!(VersionRange::parse(">=1.10").unwrap().contains(&VersionKey::parse("1.11").unwrap()));
        assert!(!VersionRange::parse(">=1.10").unwrap().contains(&VersionKey::parse("1.9").unwrap()));
    }

    #[test]
    fn every_recipe_file_on_disk_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
        let mut on_disk = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                on_disk.insert(name, std::fs::read(&path).unwrap());
            }
        }
        let embedded: BTreeMap<String, Vec<u8>> =
            embedded_files().map(|(name, bytes)| (name.to_string(), bytes.to_vec())).collect();
        assert!(!on_disk.is_empty());
        assert_eq!(embedded.keys().collect::<Vec<_>>(), on_disk.keys().collect::<Vec<_>>());
        assert!(embedded == on_disk, "an embedded recipe differs from its file: rebuild (`touch src/recipe/mod.rs`)");
    }

    #[test]
    fn env_spec_round_trips_through_json() {
        let r = Recipe::parse("w.toml", GOOD, RecipeSource::Embedded).unwrap();
        for spec in &r.envs {
            assert_eq!(&EnvSpec::from_json(&spec.to_json()).unwrap(), spec);
        }
    }

    #[test]
    fn every_shipped_recipe_parses() {
        let book = RecipeBook::embedded().unwrap();
        let swe_gym = include_str!("../../data/repos/swe-gym.txt");
        for repo in swe_gym.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
            assert!(book.get(repo).is_some(), "no recipe for {repo}");
        }
    }
}
