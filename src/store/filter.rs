//! Which instances a stage works on: the `--repo` and `--instance` options, as one value.

use crate::model::RepoName;

/// `--repo` and `--instance` selections; both empty selects everything. Repository names compare
/// case-insensitively (GitHub's rule); instance ids exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub repos: Vec<RepoName>,
    pub instances: Vec<String>,
}

impl InstanceFilter {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether the filter selects this instance of this repository.
    pub fn matches(&self, repo: &str, instance_id: &str) -> bool {
        self.matches_repo(repo) && (self.instances.is_empty() || self.instances.iter().any(|i| i == instance_id))
    }

    /// Whether the filter selects (some instances of) this repository.
    pub fn matches_repo(&self, repo: &str) -> bool {
        self.repos.is_empty() || self.repos.iter().any(|r| r.to_string().eq_ignore_ascii_case(repo))
    }

    /// A SQL condition over the given repository and instance-id columns, with its parameters in
    /// order (`TRUE` and none when the filter selects everything).
    pub fn sql(&self, repo_column: &str, id_column: &str) -> (String, Vec<String>) {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        if !self.repos.is_empty() {
            let marks = vec!["lower(?)"; self.repos.len()].join(", ");
            conditions.push(format!("lower({repo_column}) IN ({marks})"));
            params.extend(self.repos.iter().map(ToString::to_string));
        }
        if !self.instances.is_empty() {
            let marks = vec!["?"; self.instances.len()].join(", ");
            conditions.push(format!("{id_column} IN ({marks})"));
            params.extend(self.instances.iter().cloned());
        }
        if conditions.is_empty() {
            ("TRUE".to_string(), params)
        } else {
            (conditions.join(" AND "), params)
        }
    }
}

impl super::Store {
    /// The filter's repositories and instance ids that name nothing in the workspace: a typo in
    /// `--repo getmoto/mot` would otherwise select nothing and quietly succeed.
    pub fn unknown_in_filter(&self, filter: &InstanceFilter) -> Result<Vec<String>, super::StoreError> {
        let known = |sql: &str| -> Result<std::collections::HashSet<String>, super::StoreError> {
            let mut stmt = self.conn.prepare(sql).map_err(self.db_err())?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(self.db_err())?;
            rows.collect::<Result<_, _>>().map_err(self.db_err())
        };
        let mut unknown = Vec::new();
        if !filter.repos.is_empty() {
            let repos = known("SELECT DISTINCT lower(repo) FROM instances")?;
            let missing = filter.repos.iter().map(ToString::to_string).filter(|r| !repos.contains(&r.to_lowercase()));
            unknown.extend(missing.map(|r| format!("--repo {r}")));
        }
        if !filter.instances.is_empty() {
            let ids = known("SELECT instance_id FROM instances")?;
            unknown.extend(filter.instances.iter().filter(|i| !ids.contains(*i)).map(|i| format!("--instance {i}")));
        }
        Ok(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(repos: &[&str], instances: &[&str]) -> InstanceFilter {
        InstanceFilter {
            repos: repos.iter().map(|r| r.parse().expect("valid repo name")).collect(),
            instances: instances.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn empty_filter_selects_everything() {
        let f = InstanceFilter::all();
        assert!(f.matches("getmoto/moto", "getmoto__moto-1"));
        assert_eq!(f.sql("repo", "instance_id"), ("TRUE".to_string(), vec![]));
    }

    #[test]
    fn repo_names_compare_case_insensitively_instance_ids_exactly() {
        let f = filter(&["GetMoto/Moto"], &[]);
        assert!(f.matches("getmoto/moto", "getmoto__moto-1"));
        assert!(!f.matches("python/mypy", "python__mypy-1"));
        let f = filter(&[], &["getmoto__moto-1"]);
        assert!(f.matches("getmoto/moto", "getmoto__moto-1"));
        assert!(!f.matches("getmoto/moto", "GETMOTO__moto-1"));
    }

    #[test]
    fn sql_condition_has_one_parameter_per_value() {
        let (sql, params) = filter(&["getmoto/moto", "python/mypy"], &["x-1"]).sql("i.repo", "i.instance_id");
        assert_eq!(sql, "lower(i.repo) IN (lower(?), lower(?)) AND i.instance_id IN (?)");
        assert_eq!(params, ["getmoto/moto", "python/mypy", "x-1"]);
    }
}
