//! `serve` under load, for real: the `acme/calc` fixture built and validated, a server started as
//! its own process with a token, and 220 concurrent requests — the gold patch over and over, and
//! new patches — fired at it. Every request is answered, 200 or 429 with Retry-After; repeats
//! come from the cache; a wrong token gets 401 and a 50 MB body 413; SIGTERM during a hanging
//! evaluation cancels it (503), stops the server cleanly, and no container is left.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use swegym_build::context::workspace_label;
use swegym_build::docker::Engine;
use swegym_build::workspace::Workspace;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::build::{calc_validated, DOCKER};
use crate::support::TestContext;

const TOKEN: &str = "s3cret-reward-token";

/// A wrong fix of calc's `add`, made distinct by a comment.
fn wrong_fix(n: usize) -> String {
    format!(
        "diff --git a/calc/__init__.py b/calc/__init__.py\n--- a/calc/__init__.py\n+++ b/calc/__init__.py\n@@ -1,4 +1,4 @@\n __version__ = \"1.0.0\"\n \n def add(a, b):\n-    return a - b\n+    return a * b  # try {n}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_answers_every_concurrent_request_caches_repeats_and_stops_cleanly() {
    let _one = DOCKER.lock().await;
    let ctx = TestContext::new().await;
    let (_fx, first) = calc_validated(&ctx, &[]).await;
    let gold = first["patch"].as_str().unwrap().to_string();

    let mut server = ctx.cmd();
    server
        .args(["--json", "serve", "--listen", "127.0.0.1:0", "--jobs", "2", "--queue", "6", "--timeout", "120"])
        .env("SWEGYM_SERVE_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = server.spawn().expect("start serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first_line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve prints its address")
        .unwrap()
        .unwrap_or_default();
    let base = first_line.strip_prefix("listening on ").unwrap_or_else(|| panic!("{first_line:?}")).to_string();
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();

    let health: Value = http.get(format!("{base}/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!((health["status"].clone(), health["instances"].clone()), (json!("ok"), json!(2)), "{health}");
    let unauthorized = http.get(format!("{base}/v1/instances")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let listed: Value =
        http.get(format!("{base}/v1/instances")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["instances"].as_array().unwrap().len(), 2, "{listed}");
    let openapi: Value = http.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(openapi["paths"]["/v1/evaluations"].is_object());

    // A wrong token, an oversized body, an unknown instance.
    let post =
        |body: Value, token: &str| http.post(format!("{base}/v1/evaluations")).bearer_auth(token).json(&body).send();
    let r = post(json!({"instance_id": "acme__calc-1", "patch": gold}), "wrong").await.unwrap();
    assert_eq!(r.status(), 401);
    // A 50 MB body is refused from its header, before it is read: a client still writing it may
    // see the connection close (a broken pipe) before the answer, so speak HTTP by hand and read
    // the answer without sending the body.
    let mut sock = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/evaluations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"instance_id\": \"acme__calc-1\", \"patch\": \"",
        50 << 20
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(30), sock.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    drop(sock);
    let r = post(json!({"instance_id": "acme__nope-1", "patch": gold}), TOKEN).await.unwrap();
    assert_eq!(r.status(), 404);

    // The gold patch once: scored for real.
    let r: Value =
        post(json!({"instance_id": "acme__calc-1", "patch": gold}), TOKEN).await.unwrap().json().await.unwrap();
    assert_eq!((r["status"].clone(), r["cached"].clone()), (json!("resolved"), json!(false)), "{r}");

    // 220 at once: the gold patch 160 times again, 60 new wrong fixes.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..220 {
        let (http, base, gold) = (http.clone(), base.clone(), gold.clone());
        tasks.push(tokio::spawn(async move {
            let patch = if i % 11 < 8 { gold } else { wrong_fix(i) };
            let r = http
                .post(format!("{base}/v1/evaluations"))
                .bearer_auth(TOKEN)
                .json(&json!({"instance_id": "acme__calc-1", "patch": patch, "model": "load"}))
                .send()
                .await
                .expect("every request is answered");
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (i % 11 < 8, status, retry, body)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let (mut ok, mut busy, mut cached) = (0, 0, 0);
    for (is_gold, status, retry, body) in &answers {
        match status {
            200 => {
                ok += 1;
                cached += usize::from(body["cached"] == true);
                if *is_gold {
                    assert_eq!(body["status"], "resolved", "{body}");
                    assert_eq!(body["fail_to_pass"]["passed"], json!(["tests/test_calc.py::test_add"]));
                } else {
                    assert_eq!(body["status"], "unresolved", "{body}");
                    assert_eq!(body["fail_to_pass"]["failed"], json!(["tests/test_calc.py::test_add"]));
                }
            }
            429 => {
                busy += 1;
                assert!(retry.as_deref().is_some_and(|s| s.parse::<u64>().is_ok()), "429 without Retry-After");
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(ok + busy, 220);
    assert!(busy > 0, "the queue was meant to overflow");
    assert!(
        answers.iter().filter(|(g, s, ..)| *g && *s == 200).count() == 160,
        "repeats of a patch in flight are never turned away"
    );
    assert!(cached >= 159, "all but the first gold request come from the cache: {cached}");
    let health: Value = http.get(format!("{base}/healthz")).send().await.unwrap().json().await.unwrap();
    eprintln!("220 requests in {elapsed:?}: {ok} answered, {busy} turned away; {health}");

    // SIGTERM while an evaluation hangs: it is cancelled, its container removed, its request
    // answered 503, and the server stops with its summary.
    let hanging = "diff --git a/calc/__init__.py b/calc/__init__.py\n--- a/calc/__init__.py\n+++ b/calc/__init__.py\n@@ -1,4 +1,5 @@\n __version__ = \"1.0.0\"\n \n def add(a, b):\n-    return a - b\n+    import time\n+    time.sleep(600)\n";
    let in_flight = {
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/v1/evaluations"))
                .bearer_auth(TOKEN)
                .json(&json!({"instance_id": "acme__calc-1", "patch": hanging}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    let engine = Engine::connect().await.unwrap();
    let (key, value) = workspace_label(&Workspace::new(ctx.workspace()));
    let running = || async {
        let out = std::process::Command::new("docker")
            .args(["ps", "-q", "--filter", &format!("label={key}={value}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let waited = Instant::now();
    while running().await == 0 {
        assert!(waited.elapsed() < Duration::from_secs(60), "the hanging evaluation never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = child.id().expect("pid").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let stopping = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait()).await.expect("stops").unwrap();
    assert!(status.success(), "{status:?}");
    assert!(stopping.elapsed() < Duration::from_secs(30), "stopped in {:?}", stopping.elapsed());
    assert_eq!(in_flight.await.unwrap().ok(), Some(503), "the cancelled request is answered");
    assert_eq!(running().await, 0, "the hanging container is gone");
    let mut rest = String::new();
    while let Ok(Some(l)) = lines.next_line().await {
        rest.push_str(&l);
        rest.push('\n');
    }
    let summary: Value = serde_json::from_str(&rest).unwrap_or_else(|e| panic!("{e}: {rest}"));
    assert!(summary["evaluations"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!(summary["swept_containers"], 0, "{summary}");
    assert_eq!(engine.remove_containers_with_label(&format!("{key}={value}")).await.unwrap(), 0);
}
