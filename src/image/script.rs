//! Scripts that go into images: install scripts, the check script and how its results are read
//! back. (Dockerfiles are templates: [`super::template`].)

use std::path::Path;

use crate::diff::touched_test_files;
use crate::docker::{sh_quote, RunOutput};
use crate::model::RawInstance;
use crate::recipe::EnvSpec;
use crate::store::Check;

/// The environment's install script, run in /testbed at the environment commit.
pub fn env_install(spec: &EnvSpec) -> String {
    let mut s = String::from("cd /testbed\n");
    for c in spec.pre_install.iter().chain(&spec.install) {
        s.push_str(c);
        s.push('\n');
    }
    if !spec.packages.is_empty() {
        let pkgs: Vec<String> = spec.packages.iter().map(|p| sh_quote(p)).collect();
        s.push_str(&format!("pip install {}\n", pkgs.join(" ")));
    }
    // Every environment runs pytest (validation's structured results come from it).
    s.push_str("python -c 'import pytest' 2>/dev/null || pip install pytest\n");
    s
}

/// The instance layer's script: the recipe's reinstall steps at `base_commit`.
pub fn instance_install(spec: &EnvSpec) -> String {
    let mut s = String::from("cd /testbed\n");
    for c in &spec.instance_install {
        s.push_str(c);
        s.push('\n');
    }
    s.push_str("true\n");
    s
}

/// A guess at why a build failed, from its log.
pub fn likely_cause(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default().to_lowercase();
    let causes: &[(&str, &str)] = &[
        ("certificate verify failed", "TLS interception: pass the proxy's CA bundle with --ca-cert (or SSL_CERT_FILE)"),
        ("no matching distribution found", "a pinned package does not exist for this Python or before the cut-off date; pin another version in the recipe"),
        ("could not find a version that satisfies", "a pinned package does not exist for this Python or before the cut-off date; pin another version in the recipe"),
        ("build_editable", "the build backend cannot make an editable install (no PEP 660 `build_editable` hook in the setuptools of the cut-off date): install without -e in the recipe (`pip install .`), or add `setuptools>=64` to its packages"),
        ("temporary failure in name resolution", "no network during the build (DNS): check the engine's network or a proxy"),
        ("unable to locate package", "a system package does not exist in this Debian release; fix system_packages in the recipe"),
        ("no such file or directory", "a file the recipe expects is missing at this commit (e.g. a requirements file); adjust install for this version range"),
        ("error: command 'gcc' failed", "a C extension needs a compiler: add build-essential to system_packages"),
        ("python.h: no such file", "a C extension needs Python headers: add python3-dev to system_packages"),
        ("requires-python", "the package does not support this Python; choose another python for this version range"),
        ("modulenotfounderror", "a module is missing: add it to the recipe's packages"),
    ];
    for (needle, cause) in causes {
        if text.contains(needle) {
            return (*cause).to_string();
        }
    }
    "see the log; the last lines are above".to_string()
}

/// What a check container runs and reads back.
pub struct CheckPlan {
    pub script: String,
    pub names: Vec<String>,
    pub files: Vec<(String, Vec<u8>)>,
    pub collect: Vec<String>,
}

const DIR: &str = "/tmp/swegym-checks";

/// The check script. `instance` = (the instance, whether its tests are selected by file).
pub fn checks(package: &str, instance: Option<(&RawInstance, bool)>, allow_undated: bool) -> CheckPlan {
    let mut names = vec!["import".to_string(), "dated".to_string()];
    let undated = if allow_undated {
        "echo 'allowed by --allow-undated:'; cat"
    } else {
        "echo 'installs resolved WITHOUT the dependency cut-off date (uv and dated pip both failed; see the build log); fix the recipe, or build with --allow-undated:'; cat"
    };
    let exit = if allow_undated { "exit 0" } else { "exit 1" };
    let mut files = vec![
        (format!("{DIR}/import.sh"), format!("python -c {}\n", sh_quote(&format!("import {package}"))).into_bytes()),
        (
            format!("{DIR}/dated.sh"),
            format!(
                "f=/opt/swegym/undated.log\n[ -s $f ] || {{ echo 'every install step resolved as of the cut-off date'; exit 0; }}\n{undated} $f; {exit}\n"
            )
            .into_bytes(),
        ),
    ];
    if let Some((inst, by_files)) = instance {
        names.push("integrity".into());
        let integrity = format!(
            r#"set -e
r=$(git remote); [ -z "$r" ] || {{ echo "remotes left: $r"; exit 1; }}
refs=$(git for-each-ref); [ -z "$refs" ] || {{ echo "refs or tags left: $refs"; exit 1; }}
head=$(git rev-parse HEAD); [ "$head" = "{sha}" ] || {{ echo "HEAD is $head, not base_commit {sha}"; exit 1; }}
extra=$(git rev-list --all --reflog --not {sha} | head -5); [ -z "$extra" ] || {{ echo "commits outside base_commit's history: $extra"; exit 1; }}
loose=$(git fsck --connectivity-only --unreachable --no-reflogs --no-progress 2>/dev/null | head -5); [ -z "$loose" ] || {{ echo "unreachable objects: $loose"; exit 1; }}
echo "no remote, no ref, HEAD at base_commit, nothing newer"
"#,
            sha = inst.base_commit
        );
        files.push((format!("{DIR}/integrity.sh"), integrity.into_bytes()));
        names.push("collect".into());
        let targets = touched_test_files(&inst.test_patch);
        let collect = if !by_files {
            "echo 'tests are selected by name (not by file): collection is checked at validation'\n".to_string()
        } else if targets.is_empty() {
            "echo 'test_patch touches no Python test file: nothing to collect'\n".to_string()
        } else {
            let quoted: Vec<String> = targets.iter().map(|t| sh_quote(t)).collect();
            format!(
                "git apply {DIR}/test.patch || {{ echo 'test_patch does not apply at base_commit'; exit 1; }}\n\
                 python -m pytest --collect-only -q {}\n",
                quoted.join(" ")
            )
        };
        files.push((format!("{DIR}/collect.sh"), collect.into_bytes()));
        files.push((format!("{DIR}/test.patch"), inst.test_patch.clone().into_bytes()));
    }
    let mut script = String::from("cd /testbed\n");
    for n in &names {
        // Each check in a subshell; its output and exit code go to files, not to stdout, so what
        // the repository prints cannot pass for a result.
        script.push_str(&format!("(sh {DIR}/{n}.sh) > {DIR}/{n}.out 2>&1; echo $? > {DIR}/{n}.rc\n"));
    }
    // Leave the checkout as it was for nothing: the container is thrown away.
    let collect = names.iter().flat_map(|n| [format!("{DIR}/{n}.rc"), format!("{DIR}/{n}.out")]).collect();
    CheckPlan { script, names, files, collect }
}

/// Reads the results of [`checks`] from the collected files.
pub fn parse_checks(names: &[String], out: &RunOutput) -> Vec<Check> {
    let file =
        |p: String| out.files.iter().find(|(n, _)| *n == p).map(|(_, b)| String::from_utf8_lossy(b).into_owned());
    names
        .iter()
        .map(|n| {
            let rc = file(format!("{DIR}/{n}.rc")).and_then(|t| t.trim().parse::<i64>().ok());
            let text = file(format!("{DIR}/{n}.out")).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
            let detail = if out.timed_out {
                "timed out".to_string()
            } else if rc.is_none() {
                format!("did not run (container exit {:?}): {}", out.exit_code, out.output.trim())
            } else {
                tail.join("\n")
            };
            Check { name: n.clone(), ok: rc == Some(0), detail }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_editable_install_without_pep_660_is_named_as_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("build.log");
        let text = "ERROR: Project file:///testbed has a 'pyproject.toml' and its build backend is missing the \
                    'build_editable' hook. Since it does not have a 'setup.py' nor a 'setup.cfg', it cannot be \
                    installed in editable mode.\nNo such file or directory: setup.py\n";
        std::fs::write(&log, text).unwrap();
        assert!(likely_cause(&log).contains("editable install"), "{}", likely_cause(&log));
    }

    #[test]
    fn a_check_without_result_file_fails_with_the_container_output() {
        let out = RunOutput { exit_code: Some(127), output: "sh: not found".into(), timed_out: false, files: vec![] };
        let c = parse_checks(&["import".into()], &out);
        assert!(!c[0].ok);
        assert!(c[0].detail.contains("not found"), "{}", c[0].detail);
    }

    #[test]
    fn undated_installs_fail_the_dated_check_unless_allowed() {
        let run = |allow: bool, log: Option<&str>| -> (i32, String) {
            let dir = tempfile::tempdir().unwrap();
            let plan = checks("calc", None, allow);
            let script = plan.files.iter().find(|(n, _)| n.ends_with("/dated.sh")).map(|(_, b)| b.clone()).unwrap();
            let log_path = dir.path().join("undated.log");
            if let Some(text) = log {
                std::fs::write(&log_path, text).unwrap();
            }
            let script =
                String::from_utf8(script).unwrap().replace("/opt/swegym/undated.log", &log_path.display().to_string());
            let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
            (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
        };
        assert_eq!(run(false, None).0, 0);
        let (code, text) = run(false, Some("pip install -r requirements.txt\n"));
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("WITHOUT the dependency cut-off date") && text.contains("pip install -r requirements.txt"),
            "{text}"
        );
        let (code, text) = run(true, Some("pip install x\n"));
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("allowed by --allow-undated"), "{text}");
    }
}
