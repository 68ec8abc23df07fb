//! What travels between the coordinator and a swarm worker.
//!
//! - The task spec, an [`Envelope`], goes in the service's environment as base64 of its JSON
//!   (`SWEGYM_TASK`): base64 holds no `{{`, so no text from a recipe or a patch is ever expanded
//!   by Swarm's templates. An envelope too big for an environment variable goes as a one-file
//!   image in the registry instead (`SWEGYM_TASK_IMAGE`).
//! - The result, `{"ok": output}` or `{"err": message}`, comes back on the worker's stdout in
//!   numbered lines of base64 (`swegym-result <i>/<n> <chunk>`), short enough that no logging
//!   driver splits them; whatever else the worker prints is ignored.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Environment variable holding an inline task spec.
pub const TASK_ENV: &str = "SWEGYM_TASK";
/// Environment variable naming the image that holds the task spec (at [`TASK_FILE`]).
pub const TASK_IMAGE_ENV: &str = "SWEGYM_TASK_IMAGE";
pub const TASK_FILE: &str = "/swegym-task.json";
/// Where a worker finds the registry login (a Swarm secret).
pub const LOGIN_SECRET_FILE: &str = "swegym-registry-login";
/// Largest encoded task spec passed inline (Linux caps one environment string at 128 KiB).
pub const INLINE_MAX: usize = 96 * 1024;
const RESULT_PREFIX: &str = "swegym-result";
const CHUNK: usize = 3000;

/// A task spec: one job for one worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// [`super::Job::KIND`].
    pub kind: String,
    /// Where images are pulled from and pushed to (`HOST:PORT[/prefix]`).
    pub registry: String,
    /// The job itself, as JSON.
    pub job: serde_json::Value,
}

impl Envelope {
    pub fn encode(&self) -> Result<String, String> {
        let json = serde_json::to_vec(self).map_err(|e| format!("cannot encode the task: {e}"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(json))
    }

    pub fn decode(text: &str) -> Result<Self, String> {
        let json = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("the task spec is not base64: {e}"))?;
        Self::from_json(&json)
    }

    pub fn from_json(json: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(json).map_err(|e| format!("the task spec is not valid: {e}"))
    }
}

/// What a worker reports.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    Ok(T),
    Err(String),
}

/// The lines a worker prints for `outcome`.
pub fn result_lines<T: Serialize>(outcome: &Outcome<T>) -> Vec<String> {
    let json = serde_json::to_vec(outcome)
        .unwrap_or_else(|e| format!("{{\"err\":\"cannot encode the result: {e}\"}}").into_bytes());
    let text = base64::engine::general_purpose::STANDARD.encode(json);
    // base64 is ASCII, so byte chunks are text; JSON is never empty, so there is at least one.
    let chunks: Vec<&str> = text.as_bytes().chunks(CHUNK).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    let n = chunks.len();
    chunks.iter().enumerate().map(|(i, c)| format!("{RESULT_PREFIX} {}/{n} {c}", i + 1)).collect()
}

/// The outcome in a worker's stdout; `None` if it is missing or incomplete (the worker died).
pub fn parse_result<T: DeserializeOwned>(stdout: &str) -> Option<Result<Outcome<T>, String>> {
    let mut parts: Vec<Option<String>> = vec![];
    for line in stdout.lines() {
        // Log drivers may prefix lines (timestamps, details): find the marker anywhere.
        let Some(at) = line.find(RESULT_PREFIX) else { continue };
        let mut fields = line[at + RESULT_PREFIX.len()..].split_whitespace();
        let (Some(pos), chunk) = (fields.next(), fields.next().unwrap_or("")) else { continue };
        let Some((i, n)) = pos.split_once('/') else { continue };
        let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<usize>()) else { continue };
        if n == 0 || i == 0 || i > n || n > 1_000_000 {
            continue;
        }
        if parts.len() != n {
            parts = vec![None; n];
        }
        parts[i - 1] = Some(chunk.to_string());
    }
    if parts.is_empty() || parts.iter().any(Option::is_none) {
        return None;
    }
    let text: String = parts.into_iter().flatten().collect();
    let parsed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("the worker's result is not base64: {e}"))
        .and_then(|json| serde_json::from_slice(&json).map_err(|e| format!("the worker's result is not valid: {e}")));
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_survive_framing_and_noise_between_lines() {
        let big = "x".repeat(20_000);
        let lines = result_lines(&Outcome::Ok(big.clone()));
        assert!(lines.len() > 5 && lines.iter().all(|l| l.len() < 3100), "{}", lines.len());
        let stdout = format!("pulling…\n{}\nsome noise\n{}\n", lines[0], lines[1..].join("\n"));
        match parse_result::<String>(&stdout) {
            Some(Ok(Outcome::Ok(s))) => assert_eq!(s, big),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_result_cut_short_is_no_result() {
        let lines = result_lines(&Outcome::<String>::Err("boom".repeat(2000)));
        let partial = lines[..lines.len() - 1].join("\n");
        assert!(parse_result::<String>(&partial).is_none());
        assert!(parse_result::<String>("nothing here\n").is_none());
        match parse_result::<String>(&lines.join("\n")) {
            Some(Ok(Outcome::Err(e))) => assert!(e.starts_with("boomboom")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn template_text_in_a_job_never_reaches_the_spec_as_such() {
        let env = Envelope {
            kind: "run".into(),
            registry: "127.0.0.1:5000".into(),
            job: serde_json::json!({"script": "echo {{.Node.Hostname}} {{ x }}"}),
        };
        let encoded = env.encode().unwrap();
        assert!(!encoded.contains("{{") && !encoded.contains('{'), "{encoded}");
        assert_eq!(Envelope::decode(&encoded).unwrap().job, env.job);
    }
}
