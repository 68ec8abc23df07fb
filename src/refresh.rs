//! `refresh`: mine → pin → build → validate → export for a list of repositories, doing only
//! what is new. Made for cron: one run at a time per workspace (the store's lock, held for the
//! whole run), a JSON summary, and a failure exit only when something failed.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::context::Context;
use crate::export::{self, ExportOptions, ExportSummary};
use crate::github::GitHub;
use crate::image::{self, BuildOptions, BuildSummary, ImageState};
use crate::mine::{self, MineOptions, MineSummary};
use crate::pin::{self, PinOptions, PinSummary};
use crate::validate::{self, ValidateOptions, ValidateSummary};

/// Settings of each stage; the later stages' filters select the repositories mined.
pub struct RefreshOptions {
    pub mine: MineOptions,
    pub pin: PinOptions,
    pub build: BuildOptions,
    pub validate: ValidateOptions,
    pub export: ExportOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("mine: {0}")]
    Mine(#[from] mine::MineError),
    #[error("pin: {0}")]
    Pin(#[from] pin::PinError),
    #[error("build: {0}")]
    Build(#[from] image::BuildError),
    #[error("validate: {0}")]
    Validate(#[from] validate::ValidateError),
    #[error("export: {0}")]
    Export(#[from] export::ExportError),
}

/// What each stage did.
#[derive(Debug, Serialize)]
pub struct RefreshSummary {
    pub mine: Option<MineSummary>,
    pub pin: Option<PinSummary>,
    pub build: Option<BuildSummary>,
    pub validate: Option<ValidateSummary>,
    /// Written only when a stage changed something or the files are missing.
    pub export: Option<ExportSummary>,
    /// Whether any stage produced something new.
    pub changed: bool,
    /// What failed (the exit code is non-zero when this is not empty).
    pub failures: Vec<String>,
    pub interrupted: bool,
    pub seconds: f64,
}

/// Runs every stage in order; stops early only when interrupted or when a stage cannot run at
/// all (a database or engine error). Failures of single repositories or images are recorded and
/// the next stages go on with what succeeded.
pub async fn refresh(cx: &mut Context, gh: Arc<GitHub>, opts: &RefreshOptions) -> Result<RefreshSummary, RefreshError> {
    let started = Instant::now();
    let mut s = RefreshSummary {
        mine: None,
        pin: None,
        build: None,
        validate: None,
        export: None,
        changed: false,
        failures: vec![],
        interrupted: false,
        seconds: 0.0,
    };

    cx.progress.println("refresh: mine");
    let m = mine::mine(cx, gh, &opts.mine).await?;
    for r in &m.repos {
        if let Some(e) = &r.error {
            s.failures.push(format!("mine {}: {e}", r.repo));
        } else if r.failed > 0 {
            s.failures.push(format!("mine {}: {} pull requests failed (retried next run)", r.repo, r.failed));
        }
        s.changed |= r.instances > 0;
    }
    s.interrupted |= m.interrupted;
    s.mine = Some(m);
    if s.interrupted {
        return Ok(finish(s, started));
    }

    cx.progress.println("refresh: pin");
    let p = pin::pin(cx, &opts.pin)?;
    for r in &p.repos {
        if let Some(e) = &r.error {
            s.failures.push(format!("pin {}: {e}", r.repo));
        }
    }
    s.changed |= p.pinned > 0;
    s.interrupted |= p.interrupted;
    s.pin = Some(p);
    if s.interrupted {
        return Ok(finish(s, started));
    }

    cx.progress.println("refresh: build");
    let b = image::build(cx, &opts.build).await?;
    for i in b.images.iter().filter(|i| i.state == ImageState::Failed) {
        s.failures.push(format!(
            "build {}: {}",
            i.instance_id.as_deref().or(i.repo.as_deref()).unwrap_or(&i.tag),
            i.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("failed")
        ));
    }
    s.changed |= b.built > 0;
    s.interrupted |= b.interrupted;
    s.build = Some(b);
    if s.interrupted {
        return Ok(finish(s, started));
    }

    cx.progress.println("refresh: validate");
    let v = validate::validate(cx, &opts.validate).await?;
    s.changed |= v.validated > 0;
    s.interrupted |= v.interrupted;
    s.validate = Some(v);
    if s.interrupted {
        return Ok(finish(s, started));
    }

    let missing = opts.export.splits.iter().any(|split| {
        opts.export
            .formats
            .iter()
            .any(|f| !opts.export.out_dir.join(format!("{}.{}", split.as_str(), f.extension())).exists())
    });
    if s.changed || missing {
        cx.progress.println("refresh: export");
        s.export = Some(export::export(cx, &opts.export)?);
    }
    Ok(finish(s, started))
}

fn finish(mut s: RefreshSummary, started: Instant) -> RefreshSummary {
    s.seconds = started.elapsed().as_secs_f64();
    s
}
