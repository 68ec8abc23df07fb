//! `--executor swarm` on a real multi-node cluster: `.ci/swarm up` starts Debian's registry on
//! 127.0.0.1:5000 and a swarm of one manager (drained) and two workers, each a Docker-in-Docker
//! container built from Debian's packages (`.ci/run` starts it; this test runs `up` again, which
//! returns at once when it is running). The e2e fixture is refreshed locally and on the swarm:
//! the same export, with work on both workers; a worker killed mid-validation loses its tasks to
//! the other one, and the export stays the same; a task no node can hold fails within the
//! placement time-out; no service is ever left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::build::DOCKER;
use crate::e2e::{refresh_args, shop, REPO};
use crate::support::fixture_repo::git_url;
use crate::support::{stderr, stdout, TestContext};

/// The worker that is killed mid-validation.
const VICTIM: &str = "swegym-ci-worker-1";

/// The test cluster's manager (`DOCKER_HOST`) and registries, from `.ci/swarm up`.
struct Cluster {
    host: String,
    registry: String,
    /// A registry that wants a login (TLS, htpasswd), and the file with its user and password.
    login_registry: String,
    login_file: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/swarm")
}

/// Starts the cluster (or finds it running) and reads its addresses from the `export` lines.
fn cluster() -> Cluster {
    let out = std::process::Command::new("bash").arg(script()).arg("up").output().expect("run .ci/swarm up");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        ".ci/swarm up failed (it needs root, debootstrap and the Docker Engine):\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vars: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.trim_matches(['"', '\''])))
        .collect();
    Cluster {
        host: vars.get("SWEGYM_SWARM_HOST").expect("SWEGYM_SWARM_HOST from .ci/swarm up").to_string(),
        registry: vars.get("SWEGYM_SWARM_REGISTRY").expect("SWEGYM_SWARM_REGISTRY from .ci/swarm up").to_string(),
        login_registry: vars
            .get("SWEGYM_SWARM_LOGIN_REGISTRY")
            .expect("SWEGYM_SWARM_LOGIN_REGISTRY from .ci/swarm up")
            .to_string(),
        login_file: PathBuf::from(
            vars.get("SWEGYM_SWARM_LOGIN_FILE").expect("SWEGYM_SWARM_LOGIN_FILE from .ci/swarm up"),
        ),
    }
}

/// `docker -H <manager> args…`, its stdout.
fn on_manager(c: &Cluster, args: &[&str]) -> String {
    let out = std::process::Command::new("docker").arg("-H").arg(&c.host).args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Node id → hostname.
fn nodes(c: &Cluster) -> BTreeMap<String, String> {
    on_manager(c, &["node", "ls", "--format", "{{.ID}} {{.Hostname}}"])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, host)| (id.to_string(), host.trim().to_string()))
        .collect()
}

/// Services of any swegym run still in the swarm.
fn services_left(c: &Cluster) -> Vec<String> {
    on_manager(c, &["service", "ls", "--filter", "label=swegym.run", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The task attempts a run traced (`SWEGYM_TRACE_TASKS`).
fn trace(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a trace line"))
        .collect()
}

/// A running validation task on `host`, if there is one now.
fn running_task_on(c: &Cluster, host: &str) -> bool {
    let services = on_manager(c, &["service", "ls", "--filter", "label=swegym.kind=run", "--format", "{{.ID}}"]);
    services.lines().any(|id| {
        let out = std::process::Command::new("docker")
            .args(["-H", &c.host, "service", "ps", id, "--format", "{{.Node}} {{.CurrentState}}"])
            .output()
            .expect("docker service ps");
        String::from_utf8_lossy(&out.stdout).lines().any(|l| l.starts_with(host) && l.contains("Running"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_runs_give_the_local_export_survive_a_lost_worker_and_refuse_what_no_node_holds() {
    let _one = DOCKER.lock().await;
    let c = cluster();
    let fx = shop();
    let url = git_url(fx.root.path());
    let repos_file = fx.root.path().join("repos.txt");
    std::fs::write(&repos_file, format!("{REPO}\n")).unwrap();
    let recipes = fx.recipes.to_str().unwrap();
    let args = refresh_args(repos_file.to_str().unwrap(), recipes);
    let envs = [("SWEGYM_GIT_URL", url.as_str()), ("GITHUB_TOKEN", "test-token")];

    // 1. The same refresh, locally and on the swarm.
    let local = TestContext::new().await;
    local.fake.add_repo(REPO, fx.repo.clone());
    let out = local.run(&args, &envs).await;
    assert!(matches!(out.status.code(), Some(0 | 3)), "local refresh: {}\n{}", stdout(&out), stderr(&out));
    let local_export = std::fs::read(local.workspace().join("exports/full.jsonl")).unwrap();
    let local_lite = std::fs::read(local.workspace().join("exports/lite.jsonl")).unwrap();

    let swarm = TestContext::new().await;
    swarm.fake.add_repo(REPO, fx.repo.clone());
    // The same recipe with a comment of this run's own: new environment and instance tags, so
    // the builds run as swarm tasks even when the registry holds an earlier run's images. (The
    // recipe's text is an input of the image tags, not of the exported rows.)
    let swarm_recipes = tempfile::tempdir().unwrap();
    let recipe = std::fs::read_to_string(fx.recipes.join("acme__shop.toml")).unwrap();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::fs::write(swarm_recipes.path().join("acme__shop.toml"), format!("# swarm test run {stamp}\n{recipe}"))
        .unwrap();
    let traced = swarm.workspace().join("..").join(format!("trace-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&traced);
    let cluster_args = ["--executor", "swarm", "--registry", c.registry.as_str()];
    let mut swarm_args = refresh_args(repos_file.to_str().unwrap(), swarm_recipes.path().to_str().unwrap());
    swarm_args.extend(cluster_args);
    let traced_s = traced.to_str().unwrap();
    let swarm_envs = [envs[0], envs[1], ("DOCKER_HOST", c.host.as_str()), ("SWEGYM_TRACE_TASKS", traced_s)];
    let t = Instant::now();
    let out = swarm.run(&swarm_args, &swarm_envs).await;
    assert!(matches!(out.status.code(), Some(0 | 3)), "swarm refresh: {}\n{}", stdout(&out), stderr(&out));
    eprintln!("swarm refresh: {:.0} s", t.elapsed().as_secs_f64());
    let exports = swarm.workspace().join("exports");
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(exports.join("full.jsonl")).unwrap()),
        String::from_utf8_lossy(&local_export),
        "the swarm's export differs from the local one"
    );
    assert_eq!(std::fs::read(exports.join("lite.jsonl")).unwrap(), local_lite);

    let hosts = nodes(&c);
    let attempts = trace(&traced);
    let kinds: BTreeSet<&str> = attempts.iter().filter_map(|a| a["kind"].as_str()).collect();
    assert!(kinds.contains("image") && kinds.contains("run"), "builds and runs were swarm tasks: {kinds:?}");
    let used: BTreeSet<&str> = attempts
        .iter()
        .filter(|a| a["outcome"] == "done")
        .filter_map(|a| a["node"].as_str())
        .filter_map(|id| hosts.get(id).map(String::as_str))
        .collect();
    assert!(
        used.contains("swegym-ci-worker-1") && used.contains("swegym-ci-worker-2"),
        "work on both workers: {used:?} ({hosts:?})"
    );
    assert!(!used.contains("swegym-ci-manager"), "the manager is drained: {used:?}");
    assert_eq!(services_left(&c), Vec::<String>::new(), "services left behind");

    // 2. A worker killed mid-validation: its tasks run again on the other one.
    let traced2 = swarm.workspace().join("..").join(format!("trace2-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&traced2);
    let mut validate: Vec<&str> = vec!["--json", "validate", "--force", "--timeout", "20", "--jobs", "2"];
    validate.extend(cluster_args);
    let mut child = swarm.cmd();
    child.args(&validate).env("DOCKER_HOST", &c.host).env("SWEGYM_TRACE_TASKS", &traced2);
    let child = child.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !running_task_on(&c, VICTIM) {
        assert!(Instant::now() < deadline, "no validation task ran on {VICTIM} within 10 minutes");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let kill = std::process::Command::new("docker").args(["kill", VICTIM]).output().unwrap();
    assert!(kill.status.success(), "docker kill {VICTIM}: {}", String::from_utf8_lossy(&kill.stderr));
    let out = tokio::time::timeout(Duration::from_secs(1200), child.wait_with_output())
        .await
        .expect("validate finished after the worker was killed")
        .unwrap();
    let restored = std::process::Command::new("bash").arg(script()).arg("up").output().unwrap();
    assert!(out.status.success(), "validate: {}\n{}", stdout(&out), stderr(&out));
    let attempts = trace(&traced2);
    let victim_id = hosts.iter().find(|(_, h)| h.as_str() == VICTIM).map(|(id, _)| id.clone()).unwrap();
    let lost: Vec<&Value> = attempts.iter().filter(|a| a["outcome"].as_str().unwrap().starts_with("lost")).collect();
    assert!(!lost.is_empty(), "a task was lost with {VICTIM}: {attempts:#?}");
    for l in &lost {
        assert_eq!(l["node"].as_str(), Some(victim_id.as_str()), "{l}");
        let service = l["service"].as_str().unwrap();
        let task = &service[..service.rfind("-a").unwrap()];
        let rerun = attempts
            .iter()
            .find(|a| a["outcome"] == "done" && a["service"].as_str().unwrap().starts_with(&format!("{task}-a")));
        let rerun = rerun.unwrap_or_else(|| panic!("{service} never ran again: {attempts:#?}"));
        assert_ne!(rerun["node"].as_str(), Some(victim_id.as_str()), "{rerun}");
    }
    let out = swarm.run(&["export"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(exports.join("full.jsonl")).unwrap(), local_export, "the export changed");
    assert_eq!(services_left(&c), Vec::<String>::new(), "services left behind");
    assert!(restored.status.success(), ".ci/swarm up after the kill: {}", String::from_utf8_lossy(&restored.stderr));

    // Rewards on the swarm too: the gold patches of the curated rows resolve their instances.
    let rows: Vec<Value> = crate::e2e::read_jsonl(&exports.join("full.jsonl"));
    // Plus the first gold patch with a 170 KB new file: a task spec too big for the environment,
    // which travels as a one-file image in the registry.
    let big: String =
        (0..3000).map(|i| format!("+line {i} of a patch too big for an environment variable\n")).collect();
    let big_patch = format!(
        "{}diff --git a/docs/big.txt b/docs/big.txt\nnew file mode 100644\n--- /dev/null\n+++ b/docs/big.txt\n@@ -0,0 +1,3000 @@\n{big}",
        rows[0]["patch"].as_str().unwrap()
    );
    let mut predictions: String = rows
        .iter()
        .map(|r| {
            let p = serde_json::json!({"instance_id": r["instance_id"], "model_name_or_path": "gold", "model_patch": r["patch"]});
            format!("{p}\n")
        })
        .collect();
    let p = serde_json::json!({"instance_id": rows[0]["instance_id"], "model_name_or_path": "big", "model_patch": big_patch});
    predictions.push_str(&format!("{p}\n"));
    let preds = swarm.workspace().join("..").join(format!("gold-{}.jsonl", std::process::id()));
    std::fs::write(&preds, predictions).unwrap();
    let mut evaluate: Vec<&str> = vec!["--json", "evaluate", "--predictions", preds.to_str().unwrap()];
    evaluate.extend(cluster_args);
    let out = swarm.run(&evaluate, &[("DOCKER_HOST", c.host.as_str())]).await;
    assert!(out.status.success(), "evaluate: {}\n{}", stdout(&out), stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let statuses: Vec<&str> =
        summary["predictions"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["resolved"; rows.len() + 1], "{summary:#}");
    let tags: Value =
        reqwest::get(format!("http://{}/v2/swegym/task/tags/list", c.registry)).await.unwrap().json().await.unwrap();
    assert!(tags["tags"].as_array().is_some_and(|t| !t.is_empty()), "the big task went by the registry: {tags}");
    assert_eq!(services_left(&c), Vec::<String>::new(), "services left behind");

    // And over HTTP: `serve` scores on the swarm too, and leaves nothing behind when stopped.
    let mut server = swarm.cmd();
    server
        .args(["--json", "serve", "--listen", "127.0.0.1:0"])
        .args(cluster_args)
        .env("DOCKER_HOST", &c.host)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut server = server.spawn().expect("start serve");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(server.stdout.take().unwrap()));
    let first = tokio::time::timeout(Duration::from_secs(300), lines.next_line())
        .await
        .expect("serve prints its address")
        .unwrap()
        .unwrap_or_default();
    let base = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("{first:?}")).to_string();
    let body = serde_json::json!({"instance_id": rows[1]["instance_id"], "patch": rows[1]["patch"]});
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/v1/evaluations"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "resolved", "{r}");
    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let stopped = tokio::time::timeout(Duration::from_secs(120), server.wait()).await.expect("serve stops").unwrap();
    assert!(stopped.success(), "serve: {stopped}");
    assert_eq!(services_left(&c), Vec::<String>::new(), "services left behind");

    // An image the registry does not have is rebuilt, whatever the store says: the same workspace
    // against an empty part of the registry (a prefix of its own) builds everything again.
    let prefix = format!("{}/fresh{stamp}", c.registry);
    let build_args = [
        "--json",
        "build",
        "--recipes",
        swarm_recipes.path().to_str().unwrap(),
        "--base",
        "debootstrap",
        "--history",
        "shallow",
        "--executor",
        "swarm",
        "--registry",
        prefix.as_str(),
    ];
    let out = swarm.run(&build_args, &[("DOCKER_HOST", c.host.as_str()), envs[0]]).await;
    assert!(out.status.success(), "build: {}\n{}", stdout(&out), stderr(&out));
    let built: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((built["built"].as_u64(), built["reused"].as_u64()), (Some(6), Some(0)), "{built:#}");

    // 3. More memory than any node has: a clear failure within the placement time-out.
    let mut greedy: Vec<&str> =
        vec!["validate", "--force", "--instance", "acme__shop-1", "--memory", "1000g", "--placement-timeout", "10"];
    greedy.extend(cluster_args);
    let t = Instant::now();
    let out = swarm.run(&greedy, &[("DOCKER_HOST", c.host.as_str())]).await;
    let took = t.elapsed();
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("no node could take it within 10s"), "{err}");
    assert!(err.contains("insufficient resources") && err.contains("1000.0 GiB"), "{err}");
    assert!(took < Duration::from_secs(90), "it took {took:?}");
    assert_eq!(services_left(&c), Vec::<String>::new(), "services left behind");

    // 4. Ctrl-C removes the run's services; SIGKILL leaves them to the next run, which sweeps them.
    for (signal, code) in [("-INT", Some(130)), ("-KILL", None)] {
        let mut again: Vec<&str> = vec!["validate", "--force", "--timeout", "20"];
        again.extend(cluster_args);
        let mut child = swarm.cmd();
        child.args(&again).env("DOCKER_HOST", &c.host);
        let mut child = child.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while services_left(&c).is_empty() {
            assert!(Instant::now() < deadline, "no service started within 5 minutes");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let pid = child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), code, "validate after kill {signal}");
        if signal == "-INT" {
            assert_eq!(services_left(&c), Vec::<String>::new(), "Ctrl-C left services behind");
        } else {
            assert!(!services_left(&c).is_empty(), "SIGKILL leaves the run's services");
        }
    }
    // The same settings as the runs before: nothing to validate again, only the sweep.
    let mut sweep: Vec<&str> = vec!["--json", "validate", "--timeout", "20"];
    sweep.extend(cluster_args);
    let out = swarm.run(&sweep, &[("DOCKER_HOST", c.host.as_str())]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(summary["swept_containers"].as_u64() >= Some(1), "{summary:#}");
    assert_eq!(summary["validated"], 0, "{summary:#}");
    assert_eq!(services_left(&c), Vec::<String>::new(), "the next run swept what SIGKILL left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_login_comes_from_the_environment_and_goes_nowhere_else() {
    let _one = DOCKER.lock().await;
    let c = cluster();
    let login = std::fs::read_to_string(&c.login_file).expect("the login registry's user and password");
    let mut lines = login.lines();
    let (user, password) = (lines.next().unwrap().trim().to_string(), lines.next().unwrap().trim().to_string());
    let fx = shop();
    let url = git_url(fx.root.path());
    let repos_file = fx.root.path().join("repos.txt");
    std::fs::write(&repos_file, format!("{REPO}\n")).unwrap();
    let ctx = TestContext::new().await;
    ctx.fake.add_repo(REPO, fx.repo.clone());
    // A prefix of this run's own: everything is pushed and pulled through the login registry now.
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let registry = format!("{}/login{stamp}", c.login_registry);
    let mut args = refresh_args(repos_file.to_str().unwrap(), fx.recipes.to_str().unwrap());
    args.extend(["--executor", "swarm", "--registry", registry.as_str()]);
    let base_envs =
        [("SWEGYM_GIT_URL", url.as_str()), ("GITHUB_TOKEN", "test-token"), ("DOCKER_HOST", c.host.as_str())];

    // Without the login: a clear error naming the variables, before any work.
    let out = ctx.run(&args, &base_envs).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("SWEGYM_REGISTRY_USERNAME") && err.contains("SWEGYM_REGISTRY_PASSWORD"), "{err}");

    // With it: the whole refresh through the login registry.
    let mut envs = base_envs.to_vec();
    envs.extend([("SWEGYM_REGISTRY_USERNAME", user.as_str()), ("SWEGYM_REGISTRY_PASSWORD", password.as_str())]);
    let out = ctx.run(&args, &envs).await;
    assert!(matches!(out.status.code(), Some(0 | 3)), "refresh: {}\n{}", stdout(&out), stderr(&out));
    let full = crate::e2e::read_jsonl(&ctx.workspace().join("exports/full.jsonl"));
    assert_eq!(full.len(), 2, "{full:#?}");
    assert!(!stdout(&out).contains(&password) && !stderr(&out).contains(&password));
    for (path, bytes) in crate::support::all_files(&ctx.workspace()) {
        assert!(!crate::support::contains_bytes(&bytes, password.as_bytes()), "the password is in {}", path.display());
    }
    // The login went to the workers as a swarm secret, removed with the run.
    let secrets = on_manager(&c, &["secret", "ls", "--filter", "label=swegym.run", "--format", "{{.Name}}"]);
    assert_eq!(secrets.trim(), "", "secrets left behind");
    assert_eq!(services_left(&c), Vec::<String>::new(), "services left behind");
}
