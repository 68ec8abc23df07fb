//! The records that flow between stages, and the published instance schema.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A GitHub repository name, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName {
    owner: String,
    name: String,
}

/// Why a string is not an `owner/name` repository name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a repository name: expected OWNER/NAME, e.g. getmoto/moto")]
pub struct BadRepoName {
    pub input: String,
}

impl RepoName {
    pub fn owner(&self) -> &str {
        &self.owner
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `owner__name`, the prefix of instance IDs.
    pub fn instance_prefix(&self) -> String {
        format!("{}__{}", self.owner, self.name)
    }
    /// `owner__name-<pull>`.
    pub fn instance_id(&self, pull_number: u64) -> String {
        format!("{}-{}", self.instance_prefix(), pull_number)
    }
}

impl FromStr for RepoName {
    type Err = BadRepoName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadRepoName { input: s.to_string() };
        let trimmed = s.trim().trim_end_matches(".git");
        let (owner, name) = trimmed.split_once('/').ok_or_else(bad)?;
        let ok = |part: &str| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !ok(owner) || !ok(name) {
            return Err(bad());
        }
        Ok(Self { owner: owner.to_string(), name: name.to_string() })
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A mined task instance, before pinning and validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawInstance {
    pub instance_id: String,
    pub repo: String,
    pub pull_number: u64,
    pub issue_numbers: Vec<u64>,
    pub base_commit: String,
    pub patch: String,
    pub test_patch: String,
    pub problem_statement: String,
    pub hints_text: String,
    /// The PR's creation time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
}

/// One row of the published SWE-Gym schema (11 fields, in this order), with the extended fields
/// that `export` adds on request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRow {
    pub instance_id: String,
    pub repo: String,
    pub base_commit: String,
    pub patch: String,
    pub test_patch: String,
    pub problem_statement: String,
    pub hints_text: String,
    pub created_at: String,
    pub version: String,
    #[serde(rename = "FAIL_TO_PASS")]
    pub fail_to_pass: Vec<String>,
    #[serde(rename = "PASS_TO_PASS")]
    pub pass_to_pass: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pull_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub issue_numbers: Option<Vec<u64>>,
    /// The fields `export --extended` adds (absent from the plain, SWE-Gym-compatible export).
    #[serde(flatten, skip_serializing_if = "Option::is_none", default)]
    pub extended: Option<ExtendedFields>,
}

/// What `export --extended` adds to each row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedFields {
    pub environment_setup_commit: Option<String>,
    /// The instance image the tests ran in.
    pub image: String,
    /// The Python the environment was built with (`python_wanted` when it had to be substituted).
    pub python: Option<String>,
    pub python_wanted: Option<String>,
    /// embedded | file:<path> | suggested
    pub recipe: Option<String>,
    pub flaky: Vec<String>,
    #[serde(rename = "FAIL_TO_FAIL")]
    pub fail_to_fail: Vec<String>,
    #[serde(rename = "PASS_TO_FAIL")]
    pub pass_to_fail: Vec<String>,
}

/// How our list of test ids compares with a published one (order and duplicates ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListAgreement {
    pub same: bool,
    /// Published but not found by us.
    pub missing: Vec<String>,
    /// Found by us but not published.
    pub extra: Vec<String>,
}

impl ListAgreement {
    pub fn between(ours: &[String], published: &[String]) -> Self {
        let o: std::collections::BTreeSet<&String> = ours.iter().collect();
        let p: std::collections::BTreeSet<&String> = published.iter().collect();
        let missing: Vec<String> = p.difference(&o).map(|s| (*s).clone()).collect();
        let extra: Vec<String> = o.difference(&p).map(|s| (*s).clone()).collect();
        Self { same: missing.is_empty() && extra.is_empty(), missing, extra }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_name_parses_and_builds_instance_ids() {
        let r: RepoName = "getmoto/moto".parse().unwrap();
        assert_eq!(r.instance_id(7), "getmoto__moto-7");
        let r: RepoName = "Project-MONAI/MONAI.git".parse().unwrap();
        assert_eq!(r.to_string(), "Project-MONAI/MONAI");
    }

    #[test]
    fn repo_name_rejects_urls_and_missing_owner() {
        for bad in ["moto", "https://github.com/getmoto/moto", "a/b/c", "/x", "a b/c"] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn comparison_names_missing_and_extra_tests() {
        let compare = ListAgreement::between;
        let c = compare(&["a".into(), "b".into()], &["b".into(), "c".into()]);
        assert!(!c.same);
        assert_eq!(c.missing, vec!["c"]);
        assert_eq!(c.extra, vec!["a"]);
        assert!(compare(&["a".into()], &["a".into()]).same);
    }
}
