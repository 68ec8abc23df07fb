//! Dockerfile templates (`dockerfiles/`), rendered with minijinja. Undefined variables are errors
//! naming the template, so a typo in an overriding template (`--dockerfiles DIR`) fails loudly
//! instead of silently building an image without the value. Each tier's variables are one struct;
//! every template is rendered once with defaults when loaded, so such an error shows before any
//! build starts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;

use crate::docker::sh_quote;

/// A template's variables: what one tier's Dockerfile may use.
pub trait TemplateVars: Serialize + Default {
    /// The template's file name in `dockerfiles/` (and in a `--dockerfiles` directory).
    const FILE: &'static str;
}

/// `base.Dockerfile`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BaseVars {
    /// The Python `X.Y` the image has.
    pub python: String,
    /// `python:X.Y-slim` when the base comes from a registry; `None` for a debootstrap root
    /// filesystem (`rootfs.tar` in the context).
    pub registry_image: Option<String>,
    /// `X.Y` to install with `uv python install` (`--base uv`); `None`: the image's own Python.
    pub uv_python: Option<String>,
    /// `UV_PYTHON_INSTALL_MIRROR` for that install (`--python-mirror`); never has credentials.
    pub python_mirror: Option<String>,
}

impl TemplateVars for BaseVars {
    const FILE: &'static str = "base.Dockerfile";
}

/// `env.Dockerfile`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvVars {
    pub repo: String,
    pub version: String,
    /// The base image's tag.
    pub base: String,
    pub system_packages: Vec<String>,
    pub env_vars: BTreeMap<String, String>,
    /// Dependencies are resolved as of this date (`UV_EXCLUDE_NEWER`).
    pub cutoff: String,
}

impl TemplateVars for EnvVars {
    const FILE: &'static str = "env.Dockerfile";
}

/// `instance.sh`: not a Dockerfile — the script whose container becomes the instance image (one
/// layer; see the template's comment).
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstanceVars {
    pub instance_id: String,
    /// The environment's resolution date: the instance's reinstall is bounded by it too.
    pub cutoff: String,
}

impl TemplateVars for InstanceVars {
    const FILE: &'static str = "instance.sh";
}

/// The instance template's file name before instance images were built in one layer.
const OLD_INSTANCE_DOCKERFILE: &str = "instance.Dockerfile";

/// The `pip` shim's file name; copied into base images as is, not rendered.
const PIP: &str = "pip";
/// The conda activation shim's file name; copied into base images as is, not rendered.
const CONDA_ACTIVATE: &str = "conda-activate";

const EMBEDDED: &[(&str, &str)] = &[
    (BaseVars::FILE, include_str!("../../dockerfiles/base.Dockerfile")),
    (EnvVars::FILE, include_str!("../../dockerfiles/env.Dockerfile")),
    (InstanceVars::FILE, include_str!("../../dockerfiles/instance.sh")),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the Dockerfile template {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("Dockerfile template {template}: {message}")]
    Invalid { template: String, message: String },
    #[error(
        "{path}: instance images are no longer built from a Dockerfile but in one layer by a script; \
         move your changes into instance.sh (start from dockerfiles/instance.sh) and remove this file"
    )]
    Outdated { path: PathBuf },
}

/// The Dockerfile templates and the `pip` shim: embedded, overridable file by file.
#[derive(Debug, Clone)]
pub struct Templates {
    env: Environment<'static>,
    /// The `pip` shim (`dockerfiles/pip`), part of every base image.
    pub pip: String,
    /// `/opt/miniconda3/bin/activate` (`dockerfiles/conda-activate`): SWE-bench's activation path.
    pub conda_activate: String,
}

impl Templates {
    /// The embedded templates, each replaced by the file of the same name in `dir` if it has one.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let read = |name: &str| -> Result<Option<String>, TemplateError> {
            let Some(dir) = dir else { return Ok(None) };
            let path = dir.join(name);
            if !path.exists() {
                return Ok(None);
            }
            std::fs::read_to_string(&path).map(Some).map_err(|source| TemplateError::Io { path, source })
        };
        if let Some(old) = dir.map(|d| d.join(OLD_INSTANCE_DOCKERFILE)).filter(|p| p.exists()) {
            return Err(TemplateError::Outdated { path: old });
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Dockerfiles are not HTML, whatever a file is called.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // Block and comment tags on lines of their own leave no blank line behind.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| invalid("(syntax)", &e))?;
        env.set_syntax(syntax);
        env.add_filter("sh_quote", sh_quote);
        env.add_filter("docker_quote", docker_quote);
        for (name, embedded) in EMBEDDED {
            let source = read(name)?.unwrap_or_else(|| (*embedded).to_string());
            env.add_template_owned(*name, source).map_err(|e| invalid(name, &e))?;
        }
        let pip = read(PIP)?.unwrap_or_else(|| include_str!("../../dockerfiles/pip").to_string());
        let conda_activate =
            read(CONDA_ACTIVATE)?.unwrap_or_else(|| include_str!("../../dockerfiles/conda-activate").to_string());
        let templates = Self { env, pip, conda_activate };
        templates.render(&BaseVars::default())?;
        templates.render(&EnvVars::default())?;
        templates.render(&InstanceVars::default())?;
        Ok(templates)
    }

    /// The Dockerfile of `V`'s tier.
    pub fn render<V: TemplateVars>(&self, vars: &V) -> Result<String, TemplateError> {
        let template = self.env.get_template(V::FILE).map_err(|e| invalid(V::FILE, &e))?;
        template.render(Serde(vars)).map_err(|e| {
            if e.kind() != ErrorKind::UndefinedError {
                return invalid(V::FILE, &e);
            }
            // minijinja names the line, not the variable: name the unknown ones and what is known.
            let known: BTreeSet<String> = match serde_json::to_value(vars) {
                Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                _ => BTreeSet::new(),
            };
            let globals: BTreeSet<&str> = self.env.globals().map(|(name, _)| name).collect();
            let unknown: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !known.contains(v) && !globals.contains(v.as_str()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let known: Vec<String> = known.into_iter().collect();
            TemplateError::Invalid {
                template: V::FILE.to_string(),
                message: format!(
                    "undefined variable {} ({e}); this template's variables are: {}",
                    if unknown.is_empty() { "or attribute".to_string() } else { format!("`{}`", unknown.join("`, `")) },
                    known.join(", ")
                ),
            }
        })
    }
}

fn invalid(template: &str, e: &minijinja::Error) -> TemplateError {
    TemplateError::Invalid { template: template.to_string(), message: e.to_string() }
}

/// A Dockerfile `ENV` value: double-quoted, backslashes and quotes escaped.
fn docker_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_vars() -> EnvVars {
        EnvVars {
            repo: "acme/calc".into(),
            version: "1.0".into(),
            base: "swegym/base:py3.11-x".into(),
            system_packages: vec!["libxml2-dev".into(), "it's".into()],
            env_vars: BTreeMap::from([("PYTHONPATH".into(), "/testbed".into()), ("Q".into(), "say \"hi\"".into())]),
            cutoff: "2024-02-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn base_dockerfile_from_a_registry_or_from_debian_packages() {
        let t = Templates::load(None).unwrap();
        let registry = t
            .render(&BaseVars {
                python: "3.11".into(),
                registry_image: Some("python:3.11-slim".into()),
                ..BaseVars::default()
            })
            .unwrap();
        assert!(registry.starts_with("FROM python:3.11-slim\nLABEL swegym.python.version=\"3.11\"\n"), "{registry}");
        assert!(registry.contains("RUN apt-get update -qq && apt-get install"), "{registry}");
        assert!(!registry.contains("{#") && !registry.contains("Variables:"), "comments are not rendered: {registry}");
        let local = t.render(&BaseVars { python: "3.11".into(), ..BaseVars::default() }).unwrap();
        assert!(local.starts_with("FROM scratch\nADD rootfs.tar /\n"), "{local}");
        assert!(local.contains("RUN update-ca-certificates"), "{local}");
        assert!(local.contains("&& python3 -m venv /opt/venv"), "{local}");
        assert!(!local.contains("uv python install"), "{local}");
    }

    #[test]
    fn uv_base_installs_the_exact_python_from_the_mirror_and_makes_the_venv_from_it() {
        let t = Templates::load(None).unwrap();
        let vars = BaseVars {
            python: "3.8".into(),
            uv_python: Some("3.8".into()),
            python_mirror: Some("http://127.0.0.1:8000/pbs".into()),
            ..BaseVars::default()
        };
        let uv = t.render(&vars).unwrap();
        assert!(uv.starts_with("FROM scratch\nADD rootfs.tar /\n"), "{uv}");
        assert!(
            uv.contains("UV_PYTHON_INSTALL_MIRROR='http://127.0.0.1:8000/pbs' UV_PYTHON_INSTALL_DIR=/opt/python /opt/uv/bin/uv python install '3.8'"),
            "{uv}"
        );
        assert!(uv.contains("uv venv --seed --python-preference only-managed --python '3.8' /opt/venv"), "{uv}");
        assert!(!uv.contains("python3 -m venv /opt/venv"), "the venv comes from uv's Python: {uv}");
        let default = t.render(&BaseVars { python_mirror: None, ..vars }).unwrap();
        assert!(!default.contains("UV_PYTHON_INSTALL_MIRROR"), "{default}");
    }

    #[test]
    fn env_dockerfile_quotes_packages_and_variables() {
        let t = Templates::load(None).unwrap();
        let d = t.render(&env_vars()).unwrap();
        assert!(d.contains("\nFROM swegym/base:py3.11-x\n"), "{d}");
        assert!(d.contains("--no-install-recommends 'libxml2-dev' 'it'\\''s' >/dev/null"), "{d}");
        assert!(d.contains("\nENV PYTHONPATH=\"/testbed\"\nENV Q=\"say \\\"hi\\\"\"\n"), "{d}");
        assert!(d.contains("RUN UV_EXCLUDE_NEWER=2024-02-01T00:00:00Z sh -ex"), "{d}");
        let bare = t.render(&EnvVars { system_packages: vec![], env_vars: BTreeMap::new(), ..env_vars() }).unwrap();
        assert!(!bare.contains("apt-get") && !bare.contains("ENV ") && !bare.contains("\n\n"), "{bare}");
    }

    #[test]
    fn instance_script_swaps_the_repository_and_bounds_the_reinstall() {
        let t = Templates::load(None).unwrap();
        let d = t
            .render(&InstanceVars { instance_id: "acme__calc-1".into(), cutoff: "2024-02-02T00:00:00Z".into() })
            .unwrap();
        assert!(
            d.starts_with(
                "# Instance image acme__calc-1: the repository at base_commit on its environment.\nset -eu\n"
            ),
            "{d}"
        );
        assert!(!d.contains("{#") && !d.contains("Variables:"), "{d}");
        // Of the environment's repository only the objects in `keep` stay, before base_commit's
        // pack and HEAD come in, and all of it before the reinstall.
        let rm_git = d.find("find .git -mindepth 1 -maxdepth 1 ! -name objects -exec rm -rf {} +\n").unwrap();
        let rm_objects = d.find("comm -23 \"$d/have\" \"$d/keep\" | xargs -r rm -f --").unwrap();
        let new_git = d.find("cp -a \"$d/git/.\" .git/").unwrap();
        let install = d.find("UV_EXCLUDE_NEWER='2024-02-02T00:00:00Z' sh -ex \"$d/install.sh\"\n").unwrap();
        // The reinstall caches under $d (gone with it); the environment's own cache stays: deleting
        // it cost 11 s and a whiteout per file.
        assert!(d.contains("UV_CACHE_DIR=\"$d/cache/uv\"") && d.contains("rm -rf \"$d/cache\""), "{d}");
        assert!(!d.contains("/root/.cache"), "{d}");
        assert!(
            rm_git < rm_objects && rm_objects < new_git && new_git < install,
            "the environment's repository goes before base_commit's comes: {d}"
        );
    }

    #[test]
    fn an_old_instance_dockerfile_override_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("instance.Dockerfile"), "FROM {{ env_image }}\n").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("instance.Dockerfile") && e.contains("move your changes into instance.sh"), "{e}");
    }

    #[test]
    fn an_undefined_variable_in_an_override_names_the_template_and_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("env.Dockerfile"), "FROM {{ base }}\nRUN echo {{ verison }}\n").unwrap();
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.starts_with("Dockerfile template env.Dockerfile: undefined variable `verison`"), "{e}");
        assert!(e.contains("version"), "lists the known variables: {e}");
    }

    #[test]
    fn overrides_replace_only_their_own_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("instance.sh"), "{# mine #}\necho {{ instance_id }}\n").unwrap();
        std::fs::write(dir.path().join("pip"), "#!/bin/sh\n").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let vars = InstanceVars { instance_id: "x".into(), cutoff: "c".into() };
        assert_eq!(t.render(&vars).unwrap(), "echo x\n");
        assert_eq!(t.pip, "#!/bin/sh\n");
        assert!(t.render(&env_vars()).unwrap().contains("UV_EXCLUDE_NEWER"));
    }
}
