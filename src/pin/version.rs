//! Reading a version at a commit (by recipe rule or the generic fallback) and normalising it to
//! `MAJOR.MINOR`, the form SWE-Gym's version keys take (`5.0`, `0.820`, `2023.8`).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::git::{GitError, Mirror, NearestTag, TagWalk};
use crate::recipe::{VersionRule, VersionSpec};

/// A version found at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `MAJOR.MINOR`.
    pub version: String,
    /// The text it came from (`5.0.1.dev`, `v2.1.0.dev0-123-gabc`).
    pub raw: String,
    /// How: `file:<path>`, `tag:<name>`, `fallback:<path>` or `fallback:tag:<name>`.
    pub method: String,
    /// From a tag found in a shallow history that ends closer than the tag: a nearer tag (a
    /// different version) may lie beyond the end.
    pub incomplete: bool,
}

/// The start of every reason that blames a shallow mirror, for counting them.
pub const SHALLOW: &str = "shallow history";

/// Why no version was found (recorded on the instance, never dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound(pub String);

static LEADING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[vV]?(\d+)(?:\.(\d+))?").expect("static regex"));

/// `MAJOR.MINOR` of a version string: `5.0.1.dev` → `5.0`, `0.820+dev` → `0.820`,
/// `v2023.8.1` → `2023.8`, `(1, 10, 2)` → `1.10`, `3` → `3.0`. The minor part keeps its digits as
/// written (SWE-Gym's `0.820` is not `0.82`). `None` when the text does not start with a number.
pub fn normalise(raw: &str) -> Option<String> {
    let t = raw.trim().trim_matches(|c| c == '(' || c == ')' || c == '[' || c == ']' || c == '"' || c == '\'');
    // Tuple style: `1, 10, 2` or `1, 10, "2"`.
    let joined: String;
    let t = if t.contains(',') {
        joined = t.split(',').map(|p| p.trim().trim_matches(|c| c == '"' || c == '\'')).collect::<Vec<_>>().join(".");
        joined.as_str()
    } else {
        t
    };
    let c = LEADING.captures(t)?;
    let major: u64 = c.get(1)?.as_str().parse().ok()?;
    let minor = c.get(2).map(|m| m.as_str()).unwrap_or("0");
    // A year-and-date tag such as 20230801 is a version too, but no real minor would be 9 digits.
    if minor.len() > 6 {
        return None;
    }
    Some(format!("{major}.{minor}"))
}

/// Reads the version at `sha` by the recipe's rule.
pub fn by_rule(
    mirror: &Mirror,
    sha: &str,
    spec: &VersionSpec,
    tags: &mut TagCache,
) -> Result<Result<Found, NotFound>, GitError> {
    match spec.rule {
        VersionRule::File => {
            let Some(re) = &spec.pattern else {
                return Ok(Err(NotFound("recipe has no version pattern".into())));
            };
            let mut tried = vec![];
            for file in &spec.files {
                let Some(bytes) = mirror.read_file(sha, file)? else {
                    tried.push(format!("{file} (absent)"));
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                match re.captures(&text).and_then(|c| c.get(1)) {
                    Some(m) => {
                        let raw = m.as_str().to_string();
                        return Ok(match normalise(&raw) {
                            Some(version) => {
                                Ok(Found { version, raw, method: format!("file:{file}"), incomplete: false })
                            }
                            None => Err(NotFound(format!("{file}: `{raw}` is not a version"))),
                        });
                    }
                    None => tried.push(format!("{file} (no match for the pattern)")),
                }
            }
            Ok(Err(NotFound(format!("no version in {}", tried.join(", ")))))
        }
        VersionRule::Tag => tag_version(mirror, sha, spec.pattern.as_ref(), "tag", tags),
    }
}

fn tag_version(
    mirror: &Mirror,
    sha: &str,
    pattern: Option<&Regex>,
    prefix: &str,
    tags: &mut TagCache,
) -> Result<Result<Found, NotFound>, GitError> {
    // A tag gives a version if the pattern (when there is one) matches it and the text normalises.
    let text_of = |tag: &str| -> Option<String> {
        let text = match pattern {
            Some(re) => re.captures(tag).and_then(|c| c.get(1)).map(|m| m.as_str().to_string())?,
            None => tag.to_string(),
        };
        normalise(&text)
    };
    let nearest = tags.nearest(mirror, sha, &|t: &str| text_of(t).is_some())?;
    let Some((tag, distance)) = nearest.tag else {
        let why = if pattern.is_some() {
            "no tag matching the recipe's pattern is reachable from the commit"
        } else {
            "no tag is reachable from the commit"
        };
        return Ok(Err(NotFound(if nearest.incomplete {
            format!("{SHALLOW}: {why} within the mirror's history, which is shallow (fetch more of it)")
        } else {
            why.into()
        })));
    };
    Ok(match text_of(&tag) {
        Some(version) => Ok(Found {
            version,
            raw: format!("{tag}+{distance}"),
            method: format!("{prefix}:{tag}"),
            incomplete: nearest.incomplete,
        }),
        None => Err(NotFound(format!("nearest tag `{tag}` is not a version"))),
    })
}

/// Tags by commit (read once per mirror) and nearest-tag results per commit.
#[derive(Default)]
pub struct TagCache {
    tags: Option<HashMap<git2::Oid, Vec<String>>>,
    /// Nearest accepted tag of every commit reachable from a branch or tag (one pass).
    all: Option<TagWalk>,
    by_sha: HashMap<String, NearestTag>,
}

impl TagCache {
    fn nearest(&mut self, mirror: &Mirror, sha: &str, accept: &dyn Fn(&str) -> bool) -> Result<NearestTag, GitError> {
        if let Some(hit) = self.by_sha.get(sha) {
            return Ok(hit.clone());
        }
        // A commit the mirror lacks is fetched first, and a fetch brings new history and tags:
        // what was read before it is stale.
        let fetched = !mirror.contains(sha);
        let oid = mirror.ensure_commit(sha)?;
        if fetched {
            *self = TagCache::default();
        }
        if self.tags.is_none() {
            self.tags = Some(mirror.tags_by_commit()?);
        }
        let Some(tags) = self.tags.as_ref() else { return Ok(NearestTag { tag: None, incomplete: false }) };
        if self.all.is_none() {
            self.all = Some(mirror.nearest_tags_all(tags, accept)?);
        }
        let v = match self.all.as_ref().and_then(|all| all.get(oid)) {
            Some(hit) => hit,
            // Not reachable from any branch or tag (e.g. fetched by id): walk from it.
            None => mirror.nearest_tag_where(sha, tags, accept)?,
        };
        self.by_sha.insert(sha.to_string(), v.clone());
        Ok(v)
    }
}

static ASSIGNED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^\s*(?:__version__|VERSION|version)\s*(?::\s*str\s*)?=\s*(\([^)]*\)|["'][^"']+["'])"#)
        .expect("static regex")
});
static SETUP_CFG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*version\s*=\s*([0-9][^\s#]*)\s*$").expect("static regex"));
static SETUP_PY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"version\s*=\s*["']([0-9][^"']*)["']"#).expect("static regex"));
static PYPROJECT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?m)^\s*version\s*=\s*["']([0-9][^"']*)["']"#).expect("static regex"));

/// For a repository without a recipe: common version files, then packaging metadata, then the
/// nearest tag. `package` is the import name guessed from the repository name.
pub fn generic(
    mirror: &Mirror,
    sha: &str,
    package: &str,
    tags: &mut TagCache,
) -> Result<Result<Found, NotFound>, GitError> {
    let mut files = vec![];
    for root in ["", "src/", "lib/"] {
        for f in ["__init__.py", "version.py", "_version.py", "__version__.py", "__about__.py"] {
            files.push(format!("{root}{package}/{f}"));
        }
    }
    for f in &files {
        if let Some(bytes) = mirror.read_file(sha, f)? {
            let text = String::from_utf8_lossy(&bytes);
            if let Some(m) = ASSIGNED.captures(&text).and_then(|c| c.get(1)) {
                if let Some(version) = normalise(m.as_str()) {
                    return Ok(Ok(Found {
                        version,
                        raw: m.as_str().to_string(),
                        method: format!("fallback:{f}"),
                        incomplete: false,
                    }));
                }
            }
        }
    }
    for f in ["VERSION", "VERSION.txt", "version.txt"] {
        if let Some(bytes) = mirror.read_file(sha, f)? {
            let raw = String::from_utf8_lossy(&bytes).trim().to_string();
            if let Some(version) = normalise(&raw) {
                return Ok(Ok(Found { version, raw, method: format!("fallback:{f}"), incomplete: false }));
            }
        }
    }
    for (f, re) in [("pyproject.toml", &*PYPROJECT), ("setup.cfg", &*SETUP_CFG), ("setup.py", &*SETUP_PY)] {
        if let Some(bytes) = mirror.read_file(sha, f)? {
            let text = String::from_utf8_lossy(&bytes);
            if let Some(m) = re.captures(&text).and_then(|c| c.get(1)) {
                if let Some(version) = normalise(m.as_str()) {
                    return Ok(Ok(Found {
                        version,
                        raw: m.as_str().to_string(),
                        method: format!("fallback:{f}"),
                        incomplete: false,
                    }));
                }
            }
        }
    }
    match tag_version(mirror, sha, None, "fallback:tag", tags)? {
        Ok(found) => Ok(Ok(found)),
        Err(NotFound(why)) => Ok(Err(NotFound(format!(
            "no recipe, and no version in {package}/__init__.py-style files, VERSION, pyproject.toml, setup.cfg or \
             setup.py; {why}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_keeps_major_minor_as_written() {
        assert_eq!(normalise("5.0.1.dev").as_deref(), Some("5.0"));
        assert_eq!(normalise("0.820+dev").as_deref(), Some("0.820"));
        assert_eq!(normalise("v2023.8.1").as_deref(), Some("2023.8"));
        assert_eq!(normalise("v2.1.0.dev0").as_deref(), Some("2.1"));
        assert_eq!(normalise("(1, 10, 2)").as_deref(), Some("1.10"));
        assert_eq!(normalise("'1.60.0-dev'").as_deref(), Some("1.60"));
        assert_eq!(normalise("3").as_deref(), Some("3.0"));
        assert_eq!(normalise("dev").as_deref(), None);
    }

    #[test]
    fn normalise_does_not_glue_describe_output_into_the_minor() {
        // SWE-Gym's normalisation produced keys such as `0.1181316818` from describe output.
        assert_eq!(normalise("0.11.8-13-g16818").as_deref(), Some("0.11"));
        assert_eq!(normalise("0.118-1316-g818ab").as_deref(), Some("0.118"));
    }
}
