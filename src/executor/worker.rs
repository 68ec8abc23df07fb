//! The worker side of a swarm task (`swegym-build worker`, run by the service): read the task
//! spec, make the images the job needs present on this node (pulled from the registry and tagged
//! with their local names), run the job on this node's engine exactly as a local run would, push
//! the images it made, and print the result.

use std::io::Write;

use super::wire::{self, Envelope, Outcome};
use super::{Job, Registry};
use crate::cancel::Cancel;
use crate::docker::swarm::{split_tag, RegistryLogin};
use crate::docker::{DockerError, Engine};

/// The task spec of this worker, from its environment.
pub async fn envelope_from_env(engine: &Engine) -> Result<Envelope, String> {
    if let Ok(text) = std::env::var(wire::TASK_ENV) {
        return Envelope::decode(&text);
    }
    let Ok(image) = std::env::var(wire::TASK_IMAGE_ENV) else {
        return Err(format!(
            "no task: `swegym-build worker` runs as a swarm task, with {} or {} set by the coordinator",
            wire::TASK_ENV,
            wire::TASK_IMAGE_ENV
        ));
    };
    let login = login_from_secret();
    if !engine.pull(&image, login.as_ref()).await.map_err(|e| e.to_string())? {
        return Err(format!("the task image {image} is not in the registry"));
    }
    let json = engine.file_from_image(&image, wire::TASK_FILE).await.map_err(|e| e.to_string())?;
    let _ = engine.remove_image(&image).await;
    Envelope::from_json(&json.ok_or_else(|| format!("{image} holds no {}", wire::TASK_FILE))?)
}

/// The registry login the coordinator passed as a swarm secret, if any.
pub fn login_from_secret() -> Option<RegistryLogin> {
    let text = std::fs::read_to_string(format!("/run/secrets/{}", wire::LOGIN_SECRET_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(RegistryLogin {
        server: v["server"].as_str()?.to_string(),
        username: v["username"].as_str()?.to_string(),
        password: v["password"].as_str()?.to_string(),
    })
}

/// Runs the job of `envelope` as a `J` and prints its result; the process's exit code is 0
/// whenever a result was printed (a failed job is a result too).
pub async fn serve<J: Job>(engine: &Engine, envelope: Envelope, cancel: &Cancel) -> Outcome<J::Output> {
    let outcome = match run::<J>(engine, envelope, cancel).await {
        Ok(out) => Outcome::Ok(out),
        Err(e) => Outcome::Err(e),
    };
    print_result(&outcome);
    outcome
}

/// Prints a result in its framed lines.
pub fn print_result<T: serde::Serialize>(outcome: &Outcome<T>) {
    let mut stdout = std::io::stdout().lock();
    for line in wire::result_lines(outcome) {
        let _ = writeln!(stdout, "{line}");
    }
    let _ = stdout.flush();
}

async fn run<J: Job>(engine: &Engine, envelope: Envelope, cancel: &Cancel) -> Result<J::Output, String> {
    let registry: Registry = envelope.registry.parse()?;
    let job: J = serde_json::from_value(envelope.job).map_err(|e| format!("not a {} job: {e}", J::KIND))?;
    let login = login_from_secret();
    for tag in job.needs() {
        ensure_local(engine, &registry, &tag, login.as_ref()).await?;
    }
    let out = job.run(engine, cancel).await.map_err(|e| e.to_string())?;
    for tag in J::produced(&out) {
        let name = registry.name(&tag);
        let (repo, t) = split_tag(&name);
        engine.tag(&tag, repo, t).await.map_err(|e| e.to_string())?;
        engine.push(&name, login.as_ref()).await.map_err(|e| e.to_string())?;
        // The local name stays: later tasks on this node need not pull it again.
        engine.untag(&name).await.map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Makes image `tag` present on this node: pulled from the registry and given its local name.
async fn ensure_local(
    engine: &Engine,
    registry: &Registry,
    tag: &str,
    login: Option<&RegistryLogin>,
) -> Result<(), String> {
    if engine.image(tag).await.map_err(|e| e.to_string())?.is_some() {
        return Ok(());
    }
    let name = registry.name(tag);
    if !engine.pull(&name, login).await.map_err(|e: DockerError| e.to_string())? {
        return Err(format!("image {name} is not in the registry (build it again: it is rebuilt when missing)"));
    }
    let (repo, t) = split_tag(tag);
    engine.tag(&name, repo, t).await.map_err(|e| e.to_string())?;
    engine.untag(&name).await.map_err(|e| e.to_string())?;
    Ok(())
}
