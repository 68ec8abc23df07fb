//! A fake GitHub REST API for tests and benchmarks, served by wiremock.
//!
//! One catch-all responder routes by path (constant time per request, so 10,000-PR repositories
//! stay fast). Response shapes follow GitHub's REST documentation for pulls, pull commits, issues
//! and issue comments; pagination uses real `Link` headers; every answer carries rate-limit headers.
//! Faults can be queued per path to play GitHub's failure modes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[derive(Debug, Clone)]
pub struct FakeCommit {
    pub sha: String,
    pub message: String,
    pub date: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct FakePull {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub merged_at: Option<DateTime<Utc>>,
    pub base_sha: String,
    pub commits: Vec<FakeCommit>,
    pub diff: String,
}

#[derive(Debug, Clone)]
pub struct FakeComment {
    pub id: u64,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub comments: Vec<FakeComment>,
}

#[derive(Debug, Clone, Default)]
pub struct FakeRepo {
    pub pulls: Vec<FakePull>,
    pub issues: BTreeMap<u64, FakeIssue>,
}

/// GitHub's failure modes.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 403 with the secondary-rate-limit message and no rate-limit headers at all.
    SecondaryNoHeaders,
    /// 429 with `retry-after: N`.
    TooManyRequests { retry_after: u64 },
    /// 403 with `x-ratelimit-remaining: 0` and a reset N seconds ahead.
    PrimaryExhausted { reset_in: i64 },
    /// 502 Bad Gateway with an HTML body.
    BadGateway,
    /// 200 with a truncated JSON body.
    MalformedJson,
    /// Any status with a GitHub-style JSON message.
    Status(u16),
    /// The normal answer, but late (a hung connection from the client's point of view).
    Slow(Duration),
}

#[derive(Default)]
struct State {
    repos: HashMap<String, FakeRepo>,
    /// Pull indices per repo, newest `updated_at` first (what `sort=updated&direction=desc` lists).
    order: HashMap<String, Vec<usize>>,
    /// Pull indices per repo, newest `created_at` first (`sort=created`, SWE-bench's listing).
    order_created: HashMap<String, Vec<usize>>,
    /// The server root (no API prefix): where `diff_url`s point, as on GitHub Enterprise.
    root: String,
    faults: Vec<(String, VecDeque<Fault>)>,
    base: String,
    delay: Option<Duration>,
    remaining: i64,
    requests: u64,
}

/// The fake; cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct FakeGitHub {
    state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    /// Starts a server whose API root is `<server>{prefix}` (`""` like api.github.com, or
    /// `"/api/v3"` like GitHub Enterprise).
    pub async fn start(prefix: &str) -> (MockServer, FakeGitHub) {
        let server = MockServer::start().await;
        let fake = FakeGitHub::default();
        {
            let mut s = fake.state.lock().unwrap();
            s.base = format!("{}{}", server.uri(), prefix);
            s.root = server.uri();
            s.remaining = 5000;
        }
        Mock::given(wiremock::matchers::any()).respond_with(fake.clone()).mount(&server).await;
        (server, fake)
    }

    pub fn api_url(&self) -> String {
        self.state.lock().unwrap().base.clone()
    }

    pub fn add_repo(&self, name: &str, repo: FakeRepo) {
        let mut s = self.state.lock().unwrap();
        let mut order: Vec<usize> = (0..repo.pulls.len()).collect();
        order.sort_by(|&a, &b| {
            repo.pulls[b]
                .updated_at
                .cmp(&repo.pulls[a].updated_at)
                .then(repo.pulls[b].number.cmp(&repo.pulls[a].number))
        });
        s.order.insert(name.to_ascii_lowercase(), order);
        let mut by_created: Vec<usize> = (0..repo.pulls.len()).collect();
        by_created.sort_by(|&a, &b| {
            repo.pulls[b]
                .created_at
                .cmp(&repo.pulls[a].created_at)
                .then(repo.pulls[b].number.cmp(&repo.pulls[a].number))
        });
        s.order_created.insert(name.to_ascii_lowercase(), by_created);
        s.repos.insert(name.to_ascii_lowercase(), repo);
    }

    /// Changes a repo in place (new PRs, edits) and re-sorts its listing.
    pub fn edit_repo(&self, name: &str, f: impl FnOnce(&mut FakeRepo)) {
        let repo = {
            let mut s = self.state.lock().unwrap();
            let mut r = s.repos.remove(&name.to_ascii_lowercase()).unwrap_or_default();
            f(&mut r);
            r
        };
        self.add_repo(name, repo);
    }

    /// Queues faults for requests whose path (without the API prefix, with query) contains `path`.
    pub fn fail(&self, path: &str, faults: impl IntoIterator<Item = Fault>) {
        self.state.lock().unwrap().faults.push((path.to_string(), faults.into_iter().collect()));
    }

    /// Delays every response (to make a run slow enough to kill midway).
    pub fn set_delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = Some(d);
    }

    pub fn requests(&self) -> u64 {
        self.state.lock().unwrap().requests
    }

    fn take_fault(&self, path_and_query: &str) -> Option<Fault> {
        let mut s = self.state.lock().unwrap();
        for (p, q) in s.faults.iter_mut() {
            if path_and_query.contains(p.as_str()) {
                if let Some(f) = q.pop_front() {
                    return Some(f);
                }
            }
        }
        None
    }
}

fn user(login: &str, id: u64) -> Value {
    json!({
        "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "", "url": format!("https://api.github.com/users/{login}"),
        "html_url": format!("https://github.com/{login}"), "type": "User", "site_admin": false
    })
}

fn repo_json(full: &str) -> Value {
    let (owner, name) = full.split_once('/').unwrap_or((full, full));
    json!({
        "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name, "full_name": full,
        "owner": user(owner, 1), "private": false, "html_url": format!("https://github.com/{full}"),
        "description": "A fixture repository", "fork": false,
        "url": format!("https://api.github.com/repos/{full}"), "default_branch": "main"
    })
}

fn pull_json(root: &str, full: &str, p: &FakePull) -> Value {
    let n = p.number;
    let url = format!("https://api.github.com/repos/{full}/pulls/{n}");
    json!({
        "url": url, "id": 1000000 + n, "node_id": format!("MDExOlB1bGxSZXF1ZXN0{n}"),
        "html_url": format!("https://github.com/{full}/pull/{n}"),
        "diff_url": format!("{root}/{full}/pull/{n}.diff"),
        "patch_url": format!("{root}/{full}/pull/{n}.patch"),
        "issue_url": format!("https://api.github.com/repos/{full}/issues/{n}"),
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "comments_url": format!("https://api.github.com/repos/{full}/issues/{n}/comments"),
        "statuses_url": format!("https://api.github.com/repos/{full}/statuses/{}", p.base_sha),
        "number": n, "state": "closed", "locked": false, "title": p.title,
        "user": user("contributor", 42), "body": p.body, "labels": [], "milestone": null,
        "active_lock_reason": null,
        "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
        "closed_at": iso(p.merged_at.unwrap_or(p.updated_at)),
        "merged_at": p.merged_at.map(iso),
        "merge_commit_sha": p.merged_at.map(|_| format!("{:040x}", n)),
        "assignee": null, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": { "label": format!("contributor:fix-{n}"), "ref": format!("fix-{n}"),
                  "sha": p.commits.last().map(|c| c.sha.clone()).unwrap_or_default(),
                  "user": user("contributor", 42), "repo": repo_json(full) },
        "base": { "label": "owner:main", "ref": "main", "sha": p.base_sha,
                  "user": user("owner", 1), "repo": repo_json(full) },
        "_links": { "self": { "href": url } },
        "author_association": "CONTRIBUTOR", "auto_merge": null, "draft": false
    })
}

fn commit_json(full: &str, c: &FakeCommit) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/{full}/commits/{}", c.sha),
        "sha": c.sha, "node_id": "MDY6Q29tbWl0",
        "html_url": format!("https://github.com/{full}/commit/{}", c.sha),
        "comments_url": format!("https://api.github.com/repos/{full}/commits/{}/comments", c.sha),
        "commit": {
            "url": format!("https://api.github.com/repos/{full}/git/commits/{}", c.sha),
            "author": { "name": "Contributor", "email": "c@example.com", "date": iso(c.date) },
            "committer": { "name": "Contributor", "email": "c@example.com", "date": iso(c.date) },
            "message": c.message,
            "tree": { "url": "https://api.github.com/repos/x/y/tree/0", "sha": "0" },
            "comment_count": 0,
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null }
        },
        "author": user("contributor", 42), "committer": user("contributor", 42),
        "parents": []
    })
}

fn issue_json(full: &str, i: &FakeIssue) -> Value {
    let n = i.number;
    json!({
        "id": 2000000 + n, "node_id": format!("MDU6SXNzdWU{n}"),
        "url": format!("https://api.github.com/repos/{full}/issues/{n}"),
        "repository_url": format!("https://api.github.com/repos/{full}"),
        "comments_url": format!("https://api.github.com/repos/{full}/issues/{n}/comments"),
        "html_url": format!("https://github.com/{full}/issues/{n}"),
        "number": n, "state": "closed", "state_reason": "completed", "title": i.title, "body": i.body,
        "user": user("reporter", 7), "labels": [{ "id": 1, "name": "bug", "color": "f29513", "default": true }],
        "assignee": null, "assignees": [], "milestone": null, "locked": false,
        "active_lock_reason": null, "comments": i.comments.len(),
        "closed_at": iso(i.created_at), "created_at": iso(i.created_at), "updated_at": iso(i.created_at),
        "closed_by": user("owner", 1), "author_association": "NONE"
    })
}

fn pull_as_issue_json(root: &str, full: &str, p: &FakePull) -> Value {
    let n = p.number;
    json!({
        "id": 2000000 + n, "number": n, "state": "closed", "title": p.title, "body": p.body,
        "url": format!("https://api.github.com/repos/{full}/issues/{n}"),
        "html_url": format!("https://github.com/{full}/pull/{n}"),
        "user": user("contributor", 42), "labels": [], "comments": 0,
        "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
        "pull_request": {
            "url": format!("https://api.github.com/repos/{full}/pulls/{n}"),
            "html_url": format!("https://github.com/{full}/pull/{n}"),
            "diff_url": format!("{root}/{full}/pull/{n}.diff"),
            "patch_url": format!("{root}/{full}/pull/{n}.patch"),
            "merged_at": p.merged_at.map(iso)
        }
    })
}

fn comment_json(full: &str, issue: u64, c: &FakeComment) -> Value {
    json!({
        "id": c.id, "node_id": format!("MDEyOklzc3VlQ29tbWVudA{}", c.id),
        "url": format!("https://api.github.com/repos/{full}/issues/comments/{}", c.id),
        "html_url": format!("https://github.com/{full}/issues/{issue}#issuecomment-{}", c.id),
        "issue_url": format!("https://api.github.com/repos/{full}/issues/{issue}"),
        "body": c.body, "user": user("helper", 9),
        "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
        "author_association": "MEMBER"
    })
}

fn message(status: u16, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        json!({ "message": msg, "documentation_url": "https://docs.github.com/rest" }).to_string(),
        "application/json; charset=utf-8",
    )
}

fn query(req: &Request) -> HashMap<String, String> {
    req.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

impl FakeGitHub {
    fn page<T>(&self, root: &str, req: &Request, items: &[T], render: impl Fn(&T) -> Value) -> ResponseTemplate {
        let q = query(req);
        let per_page: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30).clamp(1, 100);
        let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
        let start = (page - 1) * per_page;
        let slice = items.get(start..(start + per_page).min(items.len())).unwrap_or(&[]);
        let body: Vec<Value> = slice.iter().map(render).collect();
        let last = items.len().div_ceil(per_page).max(1);
        // wiremock's `req.url` says `localhost` without the port: rebuild it on the server root.
        let link_to = |p: usize| {
            let mut u = url::Url::parse(&format!("{root}{}", req.url.path())).expect("url");
            let pairs: Vec<(String, String)> =
                q.iter().filter(|(k, _)| k.as_str() != "page").map(|(k, v)| (k.clone(), v.clone())).collect();
            u.query_pairs_mut().clear().extend_pairs(pairs).append_pair("page", &p.to_string());
            u.to_string()
        };
        let mut links = Vec::new();
        if page < last {
            links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
            links.push(format!("<{}>; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
            links.push(format!("<{}>; rel=\"first\"", link_to(1)));
        }
        let mut t =
            ResponseTemplate::new(200).set_body_raw(Value::Array(body).to_string(), "application/json; charset=utf-8");
        if !links.is_empty() {
            t = t.insert_header("link", links.join(", ").as_str());
        }
        t
    }

    fn route(&self, req: &Request) -> ResponseTemplate {
        let base_path = {
            let s = self.state.lock().unwrap();
            url_path(&s.base)
        };
        let path = req.url.path().to_string();
        let s = self.state.lock().unwrap();
        let root = s.root.clone();
        // `diff_url` (github.com/{o}/{r}/pull/{n}.diff): outside the API root, any Accept header.
        let whole: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let [o, r, "pull", file] = whole.as_slice() {
            if let Some(n) = file.strip_suffix(".diff") {
                return match find_pull(&s, &format!("{o}/{r}"), n) {
                    Some(p) => ResponseTemplate::new(200).set_body_raw(p.diff.clone(), "text/plain; charset=utf-8"),
                    None => message(404, "Not Found"),
                };
            }
        }
        let Some(rest) = path.strip_prefix(base_path.as_str()) else {
            return message(404, "Not Found");
        };
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["rate_limit"] => {
                let core = json!({ "limit": 5000, "remaining": s.remaining, "reset": Utc::now().timestamp() + 3600, "used": 5000 - s.remaining, "resource": "core" });
                ResponseTemplate::new(200).set_body_json(json!({ "resources": { "core": core.clone() }, "rate": core }))
            }
            ["repos", o, r] => {
                let full = format!("{o}/{r}");
                match s.repos.get(&full.to_ascii_lowercase()) {
                    Some(_) => ResponseTemplate::new(200).set_body_json(repo_json(&full)),
                    None => message(404, "Not Found"),
                }
            }
            ["repos", o, r, "pulls"] => {
                let full = format!("{o}/{r}");
                let Some(repo) = s.repos.get(&full.to_ascii_lowercase()) else { return message(404, "Not Found") };
                let q = query(req);
                if q.get("state").map(String::as_str) != Some("closed") {
                    return message(422, "this fake serves state=closed only");
                }
                let key = full.to_ascii_lowercase();
                let order = match q.get("sort").map(String::as_str) {
                    Some("updated") => &s.order[&key],
                    None | Some("created") => &s.order_created[&key],
                    Some(other) => return message(422, &format!("this fake does not sort by {other}")),
                };
                let mut pulls: Vec<&FakePull> = order.iter().map(|&i| &repo.pulls[i]).collect();
                if q.get("direction").map(String::as_str) == Some("asc") {
                    pulls.reverse();
                }
                self.page(&root, req, &pulls, |p| pull_json(&root, &full, p))
            }
            ["repos", o, r, "pulls", n] => {
                let full = format!("{o}/{r}");
                let Some(p) = find_pull(&s, &full, n) else { return message(404, "Not Found") };
                let accept = req.headers.get("accept").and_then(|v| v.to_str().ok()).unwrap_or("");
                if accept.contains("diff") {
                    ResponseTemplate::new(200).set_body_raw(p.diff.clone(), "text/plain; charset=utf-8")
                } else {
                    ResponseTemplate::new(200).set_body_json(pull_json(&root, &full, p))
                }
            }
            ["repos", o, r, "pulls", n, "commits"] => {
                let full = format!("{o}/{r}");
                let Some(p) = find_pull(&s, &full, n) else { return message(404, "Not Found") };
                self.page(&root, req, &p.commits, |c| commit_json(&full, c))
            }
            ["repos", o, r, "issues", n] => {
                let full = format!("{o}/{r}");
                let Some(repo) = s.repos.get(&full.to_ascii_lowercase()) else { return message(404, "Not Found") };
                let Ok(num) = n.parse::<u64>() else { return message(404, "Not Found") };
                if let Some(i) = repo.issues.get(&num) {
                    return ResponseTemplate::new(200).set_body_json(issue_json(&full, i));
                }
                match repo.pulls.iter().find(|p| p.number == num) {
                    Some(p) => ResponseTemplate::new(200).set_body_json(pull_as_issue_json(&root, &full, p)),
                    None => message(404, "Not Found"),
                }
            }
            ["repos", o, r, "issues", n, "comments"] => {
                let full = format!("{o}/{r}");
                let Some(repo) = s.repos.get(&full.to_ascii_lowercase()) else { return message(404, "Not Found") };
                let num: u64 = n.parse().unwrap_or(0);
                let Some(i) = repo.issues.get(&num) else {
                    return self.page(&root, req, &Vec::<FakeComment>::new(), |c| comment_json(&full, num, c));
                };
                self.page(&root, req, &i.comments, |c| comment_json(&full, num, c))
            }
            _ => message(404, "Not Found"),
        }
    }
}

fn url_path(base: &str) -> String {
    url::Url::parse(base).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default()
}

fn find_pull<'a>(s: &'a State, full: &str, n: &str) -> Option<&'a FakePull> {
    let num: u64 = n.parse().ok()?;
    s.repos.get(&full.to_ascii_lowercase())?.pulls.iter().find(|p| p.number == num)
}

impl Respond for FakeGitHub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let pq = format!("{}?{}", req.url.path(), req.url.query().unwrap_or(""));
        let (delay, remaining, reset) = {
            let mut s = self.state.lock().unwrap();
            s.requests += 1;
            s.remaining = (s.remaining - 1).max(1);
            (s.delay, s.remaining, Utc::now().timestamp() + 3600)
        };
        let rate = |t: ResponseTemplate| {
            t.insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", remaining.to_string().as_str())
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .insert_header("x-ratelimit-resource", "core")
        };
        let t = match self.take_fault(&pq) {
            Some(Fault::SecondaryNoHeaders) => message(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
            ),
            Some(Fault::TooManyRequests { retry_after }) => {
                rate(message(429, "Too Many Requests")).insert_header("retry-after", retry_after.to_string().as_str())
            }
            Some(Fault::PrimaryExhausted { reset_in }) => message(403, "API rate limit exceeded for user ID 42.")
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", (Utc::now().timestamp() + reset_in).to_string().as_str()),
            Some(Fault::BadGateway) => ResponseTemplate::new(502).set_body_raw("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
            Some(Fault::MalformedJson) => rate(ResponseTemplate::new(200).set_body_raw("{\"number\": 1, \"title\": \"trunc", "application/json")),
            Some(Fault::Status(code)) => rate(message(code, "Injected failure")),
            Some(Fault::Slow(d)) => return rate(self.route(req)).set_delay(d),
            None => rate(self.route(req)),
        };
        match delay {
            Some(d) => t.set_delay(d),
            None => t,
        }
    }
}
