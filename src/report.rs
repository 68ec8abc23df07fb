//! `report`: how the instances of an imported dataset (SWE-bench, SWE-Gym) came out here, beside
//! what was published — version, FAIL_TO_PASS and PASS_TO_PASS (missing and extra ids) — and, for
//! every instance that is not curated or disagrees, why. A read of the store; it changes nothing.

use serde::Serialize;

use crate::context::Context;
use crate::model::ListAgreement;
use crate::store::{InstanceFilter, PublishedComparison, StoreError};

/// Which instances to report on.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub filter: InstanceFilter,
    /// Leave out instances that agree on everything and are curated.
    pub disagreements_only: bool,
}

/// The published version beside ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionAgreement {
    pub published: Option<String>,
    pub ours: Option<String>,
    pub same: bool,
}

/// One imported instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceReport {
    pub instance_id: String,
    pub repo: String,
    pub version: VersionAgreement,
    /// Our lists against the published ones; `None` until the instance is validated, or when
    /// nothing was published to compare with.
    pub fail_to_pass: Option<ListAgreement>,
    pub pass_to_pass: Option<ListAgreement>,
    /// `curated`, `rejected`, or how far it got: `not pinned`, `no version`, `not built`,
    /// `not validated`.
    pub status: String,
    /// Why it is not curated (the rejection reason and its detail, the pin's reason, the stage to
    /// run next) or why its lists may differ; `None` when curated and in agreement.
    pub reason: Option<String>,
    /// The Python the pin asked for, and the one its image has (`None` until built).
    pub python_wanted: Option<String>,
    pub python_used: Option<String>,
}

impl InstanceReport {
    /// The nearest Python stood in for the wanted one.
    pub fn python_substituted(&self) -> bool {
        matches!((&self.python_wanted, &self.python_used), (Some(w), Some(u)) if w != u)
    }

    /// Whether anything differs from the published row, or the instance is not curated.
    pub fn disagrees(&self) -> bool {
        let differs = |l: &Option<ListAgreement>| l.as_ref().is_some_and(|a| !a.same);
        !self.version.same || differs(&self.fail_to_pass) || differs(&self.pass_to_pass) || self.status != "curated"
    }
}

/// Every selected instance, and the totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub instances: Vec<InstanceReport>,
    /// Imported instances selected.
    pub compared: u64,
    /// Published versions, and how many of ours are the same.
    pub versions_published: u64,
    pub versions_same: u64,
    /// Instances validated here whose published lists we compared with, and of those, how many
    /// lists are identical to the published ones.
    pub validated: u64,
    pub fail_to_pass_same: u64,
    pub pass_to_pass_same: u64,
    pub curated: u64,
}

/// Compares every selected imported instance with its published row.
pub fn report(cx: &mut Context, opts: &ReportOptions) -> Result<Report, StoreError> {
    let mut out = Report::default();
    for c in cx.store.published_comparisons(&opts.filter)? {
        let r = compare(c);
        out.compared += 1;
        if r.version.published.is_some() {
            out.versions_published += 1;
            out.versions_same += u64::from(r.version.same);
        }
        if let (Some(f2p), Some(p2p)) = (&r.fail_to_pass, &r.pass_to_pass) {
            out.validated += 1;
            out.fail_to_pass_same += u64::from(f2p.same);
            out.pass_to_pass_same += u64::from(p2p.same);
        }
        out.curated += u64::from(r.status == "curated");
        if !opts.disagreements_only || r.disagrees() {
            out.instances.push(r);
        }
    }
    Ok(out)
}

fn compare(c: PublishedComparison) -> InstanceReport {
    let version = VersionAgreement {
        same: c.published_version.is_none() || c.published_version == c.version,
        published: c.published_version,
        ours: c.version.clone(),
    };
    let (status, reason) = match (&c.validation, c.pinned, &c.version, c.has_image) {
        (Some(v), ..) => {
            let why = v.reason.as_ref().map(|r| match v.detail.as_deref().and_then(|d| d.lines().next()) {
                Some(d) => format!("{r}: {d}"),
                None => r.clone(),
            });
            (v.status.clone(), why)
        }
        (None, false, ..) => ("not pinned".to_string(), Some("run `swegym-build pin`".to_string())),
        (None, true, None, _) => ("no version".to_string(), c.pin_reason.clone()),
        (None, true, Some(_), false) => ("not built".to_string(), Some("run `swegym-build build`".to_string())),
        (None, true, Some(_), true) => ("not validated".to_string(), Some("run `swegym-build validate`".to_string())),
    };
    // Rows imported without published lists (a dataset that has none yet) have nothing to agree
    // or disagree with.
    let published = !c.published_fail_to_pass.is_empty() || !c.published_pass_to_pass.is_empty();
    let lists = c.validation.as_ref().filter(|_| published).map(|v| {
        (
            ListAgreement::between(&v.fail_to_pass, &c.published_fail_to_pass),
            ListAgreement::between(&v.pass_to_pass, &c.published_pass_to_pass),
        )
    });
    let (fail_to_pass, pass_to_pass) = lists.map_or((None, None), |(f, p)| (Some(f), Some(p)));
    let mut r = InstanceReport {
        instance_id: c.instance_id,
        repo: c.repo,
        version,
        fail_to_pass,
        pass_to_pass,
        status,
        reason,
        python_wanted: c.python_wanted,
        python_used: c.python_used,
    };
    // A substituted interpreter is named wherever the outcome differs from the published one.
    let outcome_differs = r.status == "rejected"
        || [&r.fail_to_pass, &r.pass_to_pass].iter().any(|l| l.as_ref().is_some_and(|a| !a.same));
    if outcome_differs && r.python_substituted() {
        let note = format!(
            "Python {} stood in for {} (the nearest the base had; `build --base registry` or `--base uv` gets the exact one)",
            r.python_used.as_deref().unwrap_or("?"),
            r.python_wanted.as_deref().unwrap_or("?"),
        );
        r.reason = Some(match r.reason.take() {
            Some(why) => format!("{why}; {note}"),
            None => note,
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ValidationOutcome;

    fn row() -> PublishedComparison {
        PublishedComparison {
            instance_id: "getmoto__moto-5752".into(),
            repo: "getmoto/moto".into(),
            published_version: Some("4.0".into()),
            published_fail_to_pass: vec!["tests/test_ssm.py::test_a".into()],
            published_pass_to_pass: vec!["tests/test_ssm.py::test_b".into(), "tests/test_ssm.py::test_c".into()],
            version: Some("4.0".into()),
            pinned: true,
            has_image: true,
            ..PublishedComparison::default()
        }
    }

    #[test]
    fn identical_curated_instance_agrees() {
        let mut c = row();
        c.validation = Some(ValidationOutcome {
            status: "curated".into(),
            fail_to_pass: c.published_fail_to_pass.clone(),
            pass_to_pass: c.published_pass_to_pass.clone(),
            ..ValidationOutcome::default()
        });
        let r = compare(c);
        assert!(!r.disagrees(), "{r:?}");
        assert_eq!(r.reason, None);
    }

    #[test]
    fn missing_and_extra_tests_and_rejections_are_named() {
        let mut c = row();
        c.version = Some("4.1".into());
        c.validation = Some(ValidationOutcome {
            status: "rejected".into(),
            reason: Some("environment_broken".into()),
            detail: Some("ImportError: cannot import name 'mock_ssm'\nmore".into()),
            fail_to_pass: vec![],
            pass_to_pass: vec!["tests/test_ssm.py::test_b".into(), "tests/test_ssm.py::test_d".into()],
        });
        let r = compare(c);
        assert!(r.disagrees());
        assert!(!r.version.same);
        assert_eq!(r.fail_to_pass.as_ref().map(|a| a.missing.clone()), Some(vec!["tests/test_ssm.py::test_a".into()]));
        let p2p = r.pass_to_pass.clone().unwrap_or_default();
        assert_eq!(
            (p2p.missing, p2p.extra),
            (vec!["tests/test_ssm.py::test_c".into()], vec!["tests/test_ssm.py::test_d".into()])
        );
        assert_eq!(r.reason.as_deref(), Some("environment_broken: ImportError: cannot import name 'mock_ssm'"));
    }

    #[test]
    fn a_substituted_python_is_named_where_the_lists_differ() {
        let mut c = row();
        c.python_wanted = Some("3.8".into());
        c.python_used = Some("3.9".into());
        c.validation = Some(ValidationOutcome {
            status: "curated".into(),
            fail_to_pass: c.published_fail_to_pass.clone(),
            pass_to_pass: vec!["tests/test_ssm.py::test_b".into()],
            ..ValidationOutcome::default()
        });
        let r = compare(c.clone());
        assert!(r.python_substituted());
        assert!(r.reason.as_deref().is_some_and(|w| w.starts_with("Python 3.9 stood in for 3.8")), "{r:?}");
        // In agreement: the substitution is shown in the columns, not given as a cause.
        if let Some(v) = c.validation.as_mut() {
            v.pass_to_pass = c.published_pass_to_pass.clone();
        }
        assert_eq!(compare(c).reason, None);
    }

    #[test]
    fn rows_imported_without_published_lists_are_not_compared() {
        let mut c = row();
        c.published_fail_to_pass.clear();
        c.published_pass_to_pass.clear();
        c.python_wanted = Some("3.8".into());
        c.python_used = Some("3.9".into());
        c.validation = Some(ValidationOutcome {
            status: "curated".into(),
            fail_to_pass: vec!["tests/test_ssm.py::test_a".into()],
            ..ValidationOutcome::default()
        });
        let r = compare(c);
        assert_eq!((&r.fail_to_pass, &r.pass_to_pass), (&None, &None));
        assert!(!r.disagrees(), "{r:?}");
        assert_eq!(r.reason, None, "no substitution named where nothing differs");
    }

    #[test]
    fn unfinished_instances_say_which_stage_is_next() {
        let mut c = row();
        c.pinned = false;
        assert_eq!(compare(c.clone()).status, "not pinned");
        c.pinned = true;
        c.version = None;
        c.pin_reason = Some("shallow history: no tag …".into());
        let r = compare(c.clone());
        assert_eq!((r.status.as_str(), r.reason.as_deref()), ("no version", Some("shallow history: no tag …")));
        assert!(!r.version.same, "published 4.0, ours none");
        c.version = Some("4.0".into());
        c.has_image = false;
        assert_eq!(compare(c.clone()).status, "not built");
        c.has_image = true;
        assert_eq!(compare(c).status, "not validated");
    }
}
