#!/usr/bin/env python3
"""Peer benchmark: SWE-bench's own PR collector, pointed at a local fake GitHub REST API.

Runs the collection half of SWE-bench's pipeline for one repository, the way
`swebench/collect/get_tasks_pipeline.py` does it (minus its process pool and "file already
exists" skips): `print_pulls.main` (list closed PRs, `Repo.extract_resolved_issues` for each)
then `build_dataset.main` (for merged PRs with resolved issues: `extract_patches`,
`extract_problem_statement_and_hints`). Nothing of SWE-bench is re-implemented here; this file
only imports and calls it, counts the HTTP requests it makes and times it.

Tested version: swebench==4.1.0 (released 2025-09-11), with ghapi==1.0.6 and fastcore==1.8.8,
the versions current when 4.1.0 was released. swebench does not pin ghapi, and ghapi 2.x is an
incompatible rewrite (its endpoints return coroutines), so pin all three:

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install swebench==4.1.0 ghapi==1.0.6 fastcore==1.8.8

Usage (if `swebench` cannot be imported, the script re-runs itself with /tmp/peer-venv/bin/python
or $SWEBENCH_PEER_PYTHON):

    python3 benches/peer/swebench_collect.py --api-url http://127.0.0.1:PORT --repo owner/name \
        [--token T] [--max-pulls N] [--work-dir DIR]

Prints one JSON object on stdout:
    {"tool": "swebench", "version": ..., "pulls_listed": n, "instances": n,
     "instances_with_tests": n, "seconds": s, "requests_total": n, "requests_by_kind": {...}}
`instances` counts valid task instances (build_dataset's `<out>.all`: patch and problem statement
non-empty); `instances_with_tests` those that also have a test patch (build_dataset's `<out>`).
Everything else (SWE-bench's logging, the request shapes seen) goes to stderr.

How the host redirect works: ghapi 1.x builds every URL as `gh_host + path`, where `gh_host`
defaults to the module global `ghapi.core.GH_HOST`, read from the `GH_HOST` environment variable
at import. SWE-bench's `Repo` calls `GhApi(token=token)` without `gh_host`, so this script sets
`GH_HOST=<--api-url>` before importing swebench (and also assigns `ghapi.core.GH_HOST`, which
`GhApi.__init__` reads at call time). No monkeypatching of SWE-bench is needed for the API.
`extract_patches` fetches `requests.get(pull["diff_url"])` verbatim, so the fake must put its
own address into `diff_url`. Nothing in the non-django path is hard-wired to github.com; for
repos named "django" SWE-bench scrapes code.djangoproject.com instead of the issues API, which
this benchmark refuses (see below).

Requests are counted at the transport level: `urllib.request.OpenerDirector.open` (ghapi goes
through fastcore.net.urlsend -> urllib) and `requests.Session.send` (the diff download). Kinds:
repo, pull_list, commits, issue, comments, diff, rate_limit, other.

Guards (they only change behaviour when something is wrong): any request to a host other than
--api-url's, and any HTTP error status except a 404 for an issue (which SWE-bench treats as
"issue does not exist"), aborts the run with an exception that SWE-bench's `except Exception`
retry loops cannot swallow; otherwise `Repo.get_all_loop` would retry a failing page forever
and `Repo.call_api` would sleep in 5-minute steps on a 403.

`--max-pulls N` lists exactly N PRs: SWE-bench's `log_all_pulls(max_pulls=M)` stops only after
processing index M, i.e. M+1 PRs, so the script passes N-1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from contextlib import redirect_stdout
from urllib.parse import parse_qsl, urlsplit

VENV_PYTHON = os.environ.get("SWEBENCH_PEER_PYTHON", "/tmp/peer-venv/bin/python")
DUMMY_TOKEN = "ghp_peerbenchdummytoken0000000000000000"


def log(msg: str) -> None:
    print(f"[swebench_collect] {msg}", file=sys.stderr, flush=True)


class Abort(BaseException):
    """Stops the run; a BaseException so SWE-bench's `except Exception` retry loops pass it on."""


class Meter:
    """Counts requests by kind and by shape; enforces the local-host and no-error guards."""

    def __init__(self, api_url: str, owner: str, name: str):
        u = urlsplit(api_url)
        self.origin = (u.scheme, u.netloc.lower())
        self.prefix = u.path.rstrip("/")
        self.repo_path = f"/repos/{owner}/{name}".lower()
        self.full = f"/{owner}/{name}".lower()
        self.total = 0
        self.by_kind: Counter[str] = Counter()
        self.by_shape: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def kind(self, path: str, accept: str) -> str:
        p = path[len(self.prefix):] if path.startswith(self.prefix) else path
        low = p.lower().rstrip("/")
        if low.endswith(".diff") or "diff" in accept:
            return "diff"
        if low.endswith(".patch"):
            return "patch"
        if low == "/rate_limit":
            return "rate_limit"
        if low == self.repo_path:
            return "repo"
        rest = low[len(self.repo_path):] if low.startswith(self.repo_path + "/") else None
        if rest is None:
            return "other"
        if rest == "/pulls":
            return "pull_list"
        if re.fullmatch(r"/pulls/\d+/commits", rest):
            return "commits"
        if re.fullmatch(r"/issues/\d+", rest):
            return "issue"
        if re.fullmatch(r"/issues/\d+/comments", rest):
            return "comments"
        return "other"

    def shape(self, method: str, url: str, accept: str) -> str:
        u = urlsplit(url)
        path = u.path
        for src, dst in ((self.repo_path, "/repos/{owner}/{repo}"), (self.full, "/{owner}/{repo}")):
            if path.lower().startswith(self.prefix.lower() + src + "/") or path.lower() == self.prefix.lower() + src:
                path = self.prefix + dst + path[len(self.prefix) + len(src):]
                break
        path = re.sub(r"/\d+(?=/|\.|$)", "/{n}", path)
        query = "&".join(f"{k}={'{page}' if k == 'page' else v}" for k, v in parse_qsl(u.query, keep_blank_values=True))
        return f"{method} {u.scheme}://{u.netloc}{path}{'?' + query if query else ''}  [Accept: {accept or '-'}]"

    def before(self, method: str, url: str, accept: str) -> str:
        u = urlsplit(url)
        if (u.scheme, u.netloc.lower()) != self.origin:
            raise Abort(
                f"request to {url} is outside --api-url {self.origin[0]}://{self.origin[1]}; "
                "the fake must serve everything SWE-bench fetches (e.g. diff_url) at its own address"
            )
        kind = self.kind(u.path, accept.lower())
        self.total += 1
        self.by_kind[kind] += 1
        self.by_shape[self.shape(method, url, accept)] += 1
        return kind

    def after(self, status: int, kind: str, url: str) -> None:
        if status < 400:
            return
        self.errors[f"{status} {kind}"] += 1
        if status == 404 and kind == "issue":
            return  # SWE-bench's call_api turns this into "issue not found, skip it"
        raise Abort(f"HTTP {status} for {url}; SWE-bench would retry or sleep forever, aborting")


def install_meter(meter: Meter) -> None:
    import urllib.error
    import urllib.request

    import requests

    orig_open = urllib.request.OpenerDirector.open

    def open_counted(self, fullurl, *args, **kwargs):
        if isinstance(fullurl, str):
            url, method, accept = fullurl, "GET", ""
        else:
            url, method, accept = fullurl.full_url, fullurl.get_method(), fullurl.get_header("Accept") or ""
        kind = meter.before(method, url, accept)
        try:
            resp = orig_open(self, fullurl, *args, **kwargs)
        except urllib.error.HTTPError as e:
            meter.after(e.code, kind, url)
            raise
        meter.after(getattr(resp, "status", 200) or 200, kind, url)
        return resp

    urllib.request.OpenerDirector.open = open_counted

    orig_send = requests.Session.send

    def send_counted(self, request, **kwargs):
        kind = meter.before(request.method or "GET", request.url, request.headers.get("Accept", ""))
        resp = orig_send(self, request, **kwargs)
        meter.after(resp.status_code, kind, request.url)
        return resp

    requests.Session.send = send_counted


def point_ghapi_at(api_url: str) -> None:
    """Makes ghapi (and so SWE-bench's Repo) use `api_url` as its API root; call before importing swebench."""
    os.environ["GH_HOST"] = api_url
    host = urlsplit(api_url).hostname or ""
    for var in ("NO_PROXY", "no_proxy"):
        parts = [p for p in os.environ.get(var, "").split(",") if p]
        if host and host not in parts:
            os.environ[var] = ",".join(parts + [host])


def import_swebench():
    try:
        import swebench  # noqa: F401
    except ImportError:
        if os.path.exists(VENV_PYTHON) and not os.environ.get("SWEBENCH_PEER_REEXEC"):
            os.environ["SWEBENCH_PEER_REEXEC"] = "1"
            log(f"swebench not importable with {sys.executable}; re-running under {VENV_PYTHON}")
            os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__), *sys.argv[1:]])
        log("swebench is not installed; see this file's docstring for the venv setup")
        sys.exit(2)
    from importlib.metadata import version

    import ghapi.core
    from swebench.collect import build_dataset, print_pulls

    ghapi_version = version("ghapi")
    if int(ghapi_version.split(".")[0]) >= 2:
        log(f"ghapi {ghapi_version} is async-only and breaks swebench 4.x; install ghapi==1.0.6")
        sys.exit(2)
    ghapi.core.GH_HOST = os.environ["GH_HOST"]  # in case ghapi was imported before GH_HOST was set
    return version("swebench"), ghapi_version, print_pulls, build_dataset


def count_lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description="SWE-bench's PR collector against a local fake GitHub API")
    ap.add_argument("--api-url", required=True, help="API root of the fake, e.g. http://127.0.0.1:8080 or .../api/v3")
    ap.add_argument("--repo", required=True, help="owner/name")
    ap.add_argument("--token", default=None, help="token sent to the fake (default: a dummy; GITHUB_TOKEN is never read)")
    ap.add_argument("--max-pulls", type=int, default=None, help="list at most N PRs (N >= 1)")
    ap.add_argument("--work-dir", default=None, help="keep SWE-bench's jsonl outputs here (default: a temp dir, removed)")
    args = ap.parse_args()

    api_url = args.api_url.rstrip("/")
    if urlsplit(api_url).scheme not in ("http", "https") or not urlsplit(api_url).netloc:
        ap.error("--api-url must be an absolute http(s) URL")
    if args.repo.count("/") != 1 or not all(args.repo.split("/")):
        ap.error("--repo must be owner/name")
    if args.max_pulls is not None and args.max_pulls < 1:
        ap.error("--max-pulls must be at least 1")
    owner, name = args.repo.split("/")
    if name == "django":
        ap.error("SWE-bench reads django's issues from code.djangoproject.com, not the GitHub API; use another repo name")
    token = args.token or DUMMY_TOKEN

    point_ghapi_at(api_url)
    sb_version, ghapi_version, print_pulls, build_dataset = import_swebench()
    meter = Meter(api_url, owner, name)
    install_meter(meter)

    work = args.work_dir or tempfile.mkdtemp(prefix="swebench-peer-")
    os.makedirs(work, exist_ok=True)
    prs = os.path.join(work, f"{name}-prs.jsonl")
    tasks = os.path.join(work, f"{name}-task-instances.jsonl")
    for p in (prs, tasks, tasks + ".all"):
        if os.path.exists(p):
            os.remove(p)  # build_dataset would otherwise resume and skip already-seen PRs
    log(f"swebench {sb_version}, ghapi {ghapi_version}; GH_HOST={api_url}; outputs in {work}")

    max_pulls = None if args.max_pulls is None else args.max_pulls - 1
    started = time.perf_counter()
    try:
        with redirect_stdout(sys.stderr):
            print_pulls.main(f"{owner}/{name}", prs, token=token, max_pulls=max_pulls)
            listed_at = time.perf_counter()
            listed_requests = meter.total
            build_dataset.main(prs, tasks, token=token)
        seconds = time.perf_counter() - started
        pulls_listed, instances, with_tests = count_lines(prs), count_lines(tasks + ".all"), count_lines(tasks)
    except Abort as e:
        log(f"aborted after {meter.total} requests: {e}")
        for shape, n in sorted(meter.by_shape.items()):
            log(f"  {n:>6}  {shape}")
        sys.exit(1)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)

    result = {
        "tool": "swebench",
        "version": sb_version,
        "pulls_listed": pulls_listed,
        "instances": instances,
        "instances_with_tests": with_tests,
        "seconds": round(seconds, 4),
        "requests_total": meter.total,
        "requests_by_kind": dict(sorted(meter.by_kind.items())),
    }
    log(f"phase print_pulls: {listed_at - started:.3f} s, {listed_requests} requests; "
        f"phase build_dataset: {seconds - (listed_at - started):.3f} s, {meter.total - listed_requests} requests")
    if meter.errors:
        log(f"tolerated error responses: {dict(meter.errors)}")
    log("request shapes (count, method, URL template, Accept):")
    for shape, n in sorted(meter.by_shape.items()):
        log(f"  {n:>6}  {shape}")
    if result["pulls_listed"]:
        log(f"{result['pulls_listed'] / seconds:.1f} PRs/s, {meter.total / result['pulls_listed']:.3f} requests per PR")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
