//! Reads for `report`: each imported instance's published values beside ours.

use std::collections::HashMap;

use super::{InstanceFilter, Store, StoreError};

/// One imported instance: what was published, and what our stages made of it so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedComparison {
    pub instance_id: String,
    pub repo: String,
    pub published_version: Option<String>,
    pub published_fail_to_pass: Vec<String>,
    pub published_pass_to_pass: Vec<String>,
    /// Our pin: the version, or why there is none (`None` when never pinned).
    pub version: Option<String>,
    pub pin_reason: Option<String>,
    pub pinned: bool,
    /// Whether a built instance image exists.
    pub has_image: bool,
    /// The Python the pin wanted and the one the newest built instance image has (they differ
    /// where the base had to substitute the nearest one).
    pub python_wanted: Option<String>,
    pub python_used: Option<String>,
    /// Our validation, when there is one: `curated` / `rejected`, why, and our lists.
    pub validation: Option<ValidationOutcome>,
}

/// The part of a validation the report compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationOutcome {
    pub status: String,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub fail_to_pass: Vec<String>,
    pub pass_to_pass: Vec<String>,
}

impl Store {
    /// The selected imported instances with their published and our values, by repository and id.
    pub fn published_comparisons(&self, filter: &InstanceFilter) -> Result<Vec<PublishedComparison>, StoreError> {
        let (selected, params) = filter.sql("i.repo", "i.instance_id");
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT pub.instance_id, i.repo, pub.version, pin.version, pin.reason, pin.instance_id IS NOT NULL,
                        EXISTS (SELECT 1 FROM images img WHERE img.instance_id = pub.instance_id
                                AND img.tier = 'instance' AND img.status = 'built'),
                        v.status, v.reason, v.detail, v.fail_to_pass, v.pass_to_pass,
                        img.python_wanted, img.python_used
                 FROM published pub
                 JOIN instances i USING (instance_id)
                 LEFT JOIN pins pin USING (instance_id)
                 LEFT JOIN validations v USING (instance_id)
                 LEFT JOIN (SELECT instance_id, arg_max(python_wanted, built_at) AS python_wanted,
                                   arg_max(python_used, built_at) AS python_used
                            FROM images WHERE tier = 'instance' AND status = 'built'
                            GROUP BY instance_id) img USING (instance_id)
                 WHERE {selected}
                 ORDER BY i.repo, pub.instance_id"
            ))
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(params), |r| {
                let id: String = r.get(0)?;
                let validation = match r.get::<_, Option<String>>(7)? {
                    Some(status) => Some(ValidationOutcome {
                        status,
                        reason: r.get(8)?,
                        detail: r.get(9)?,
                        fail_to_pass: super::validate::parse_list(r, &id, 10, "fail_to_pass")?,
                        pass_to_pass: super::validate::parse_list(r, &id, 11, "pass_to_pass")?,
                    }),
                    None => None,
                };
                Ok(PublishedComparison {
                    repo: r.get(1)?,
                    published_version: r.get(2)?,
                    version: r.get(3)?,
                    pin_reason: r.get(4)?,
                    pinned: r.get(5)?,
                    has_image: r.get(6)?,
                    python_wanted: r.get(12)?,
                    python_used: r.get(13)?,
                    validation,
                    instance_id: id,
                    ..PublishedComparison::default()
                })
            })
            .map_err(self.db_err())?;
        let mut out: Vec<PublishedComparison> = rows.collect::<Result<_, _>>().map_err(self.db_err())?;
        let index: HashMap<String, usize> = out.iter().enumerate().map(|(i, c)| (c.instance_id.clone(), i)).collect();
        let mut tests = self
            .conn
            .prepare("SELECT instance_id, list, test FROM published_tests ORDER BY instance_id, list, position")
            .map_err(self.db_err())?;
        let rows = tests
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(self.db_err())?;
        for row in rows {
            let (id, list, test) = row.map_err(self.db_err())?;
            let Some(c) = index.get(&id).and_then(|&i| out.get_mut(i)) else { continue };
            match list.as_str() {
                "FAIL_TO_PASS" => c.published_fail_to_pass.push(test),
                _ => c.published_pass_to_pass.push(test),
            }
        }
        Ok(out)
    }
}
