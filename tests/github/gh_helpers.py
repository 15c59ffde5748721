"""Helpers for the GitHub area's tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


class Repo:
    """A throwaway git repository with helpers to write files and commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "-b", "main")

    def write(self, rel: str, text: str) -> Path:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    def commit(self, message: str = "change") -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        return git(self.path, *args)


def runspec_text(enabled: int = 0, target: str = "local", iterations: int = 3) -> str:
    return (
        "component: root/Root_Component\n"
        "job_launcher:\n"
        "  component: job_launchers/XT\n"
        f"  enabled: {enabled}\n"
        f"  compute_target: {target}\n"
        "  total_runs: 2\n"
        "  compute_nodes: 1\n"
        "  runs_per_node: 2\n"
        "processing_stages:\n"
        "  - processing_stage:\n"
        "      component: processing_stages/Train_Policy\n"
        f"      max_iterations: {iterations}\n"
    )


def pull_request_event(number: int, base: str, head: str, *, repo: str = "octo/exp", fork: bool = False,
                       action: str = "opened", branch: str = "feature") -> dict:
    head_repo = {"full_name": "mallory/exp" if fork else repo}
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "base": {"sha": base, "ref": "main", "repo": {"full_name": repo}},
            "head": {"sha": head, "ref": branch, "repo": head_repo},
        },
        "repository": {"full_name": repo, "default_branch": "main"},
        "sender": {"login": "alice"},
    }


# ---------------------------------------------------------------------------------------------------------
# the fake GitHub REST API

class FakeGitHub:
    def __init__(self, repo: str = "octo/exp", token: str = "t0ken", page_size_cap: int = 100) -> None:
        self.repo = repo
        self.token = token
        self.page_size_cap = page_size_cap
        self.comments: dict[int, list[dict]] = {}
        self.pulls: list[dict] = []
        self.calls: list[tuple[str, str]] = []
        self.next_id = 1000
        self.link_base = ""  # where Link: rel="next" points ('' = this server): a test makes it point elsewhere
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.server
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add_comment(self, number: int, body: str, login: str) -> dict:
        with self.lock:
            self.next_id += 1
            c = {"id": self.next_id, "body": body, "user": {"login": login},
                 "html_url": f"https://github.invalid/{self.repo}/pull/{number}#issuecomment-{self.next_id}"}
            self.comments.setdefault(number, []).append(c)
            return c

    def start(self) -> "FakeGitHub":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, code: int, data=None, headers: dict | None = None):
                raw = b"" if data is None else json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def _route(self, method: str):
                url = urlparse(self.path)
                fake.calls.append((method, url.path))
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"message": "Bad credentials"})
                prefix = f"/repos/{fake.repo}"
                if not url.path.startswith(prefix):
                    return self._send(404, {"message": "Not Found"})
                rest = url.path[len(prefix):]
                q = parse_qs(url.query)
                m = re.fullmatch(r"/issues/(\d+)/comments", rest)
                if m and method == "GET":
                    items = fake.comments.get(int(m.group(1)), [])
                    per = min(int(q.get("per_page", ["30"])[0]), fake.page_size_cap)
                    page = int(q.get("page", ["1"])[0])
                    chunk = items[(page - 1) * per: page * per]
                    headers = {}
                    if page * per < len(items):
                        nxt = f"{fake.link_base or fake.url}{url.path}?per_page={per}&page={page + 1}"
                        headers["Link"] = f'<{nxt}>; rel="next"'
                    return self._send(200, chunk, headers)
                if m and method == "POST":
                    body = self._body()
                    return self._send(201, fake.add_comment(int(m.group(1)), body["body"], "github-actions[bot]"))
                m = re.fullmatch(r"/issues/comments/(\d+)", rest)
                if m:
                    cid = int(m.group(1))
                    for items in fake.comments.values():
                        for c in items:
                            if c["id"] == cid:
                                if method == "PATCH":
                                    c["body"] = self._body()["body"]
                                    return self._send(200, c)
                                if method == "DELETE":
                                    items.remove(c)
                                    return self._send(204)
                    return self._send(404, {"message": "Not Found"})
                if rest == "/pulls" and method == "GET":
                    head = q.get("head", [""])[0]
                    found = [p for p in fake.pulls if f"{fake.repo.split('/')[0]}:{p['head']['ref']}" == head]
                    return self._send(200, found)
                return self._send(404, {"message": "Not Found"})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_PATCH(self):
                self._route("PATCH")

            def do_DELETE(self):
                self._route("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def read_outputs(path: Path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT (name=value lines and name<<DELIM heredocs) as the runner does."""
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1: j])
            i = j + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
        else:
            i += 1
    return out


# ---------------------------------------------------------------------------------------------------------
# what the rehearsal's jobs install from, instead of the package index

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def exclusive(lock_path: Path):
    """Hold an exclusive lock on lock_path (created if missing): one test worker at a time gets through."""
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_wheelhouse(dest: Path) -> Path:
    """A folder of wheels that the rehearsal's install steps may install from (pip --no-index --find-links):

    - every package of requirements/launcher.txt, the very files its hashes name (`pip download --require-hashes`:
      downloaded once, then answered from pip's cache);
    - the build backend (setuptools, setuptools-scm and what they need, as requirements/release.txt locks them),
      for installs from a source checkout with build isolation (`pip install ./trusted`);
    - this checkout's launcher, built from its tracked files as a wheel (what a release would publish).
    Returns the path of the launcher wheel."""
    import shutil
    import sys

    dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_NO_INDEX")}

    def run(*args: str, cwd: Path | None = None) -> None:
        proc = subprocess.run([*pip, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise AssertionError(f"pip {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")

    run("download", "--quiet", "--require-hashes", "--only-binary=:all:", "-r",
        str(REPO_ROOT / "requirements" / "launcher.txt"), "-d", str(dest))
    backend = dest.parent / "build-backend.txt"
    backend.write_text(build_backend_lock(), encoding="utf-8")
    run("download", "--quiet", "--require-hashes", "--only-binary=:all:", "-r", str(backend), "-d", str(dest))
    src = dest.parent / "launcher-src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (REPO_ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, src / rel)
    run("wheel", "--quiet", "--no-deps", "--no-build-isolation", str(src), "-w", str(dest), cwd=src)
    (wheel,) = dest.glob("runspec_launcher-*.whl")
    return wheel


def build_backend_lock() -> str:
    """The entries of requirements/release.txt that pyproject.toml's [build-system] requires needs: those packages
    and, following the lock's `# via` comments, everything they pull in (not the release tools build and twine)."""
    from launcher import tomlcompat

    build_requires = tomlcompat.loads((REPO_ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    text = (REPO_ROOT / "requirements" / "release.txt").read_text(encoding="utf-8")
    entries = [e for e in re.split(r"\n(?=\S)", re.sub(r"^#.*\n", "", text, flags=re.M)) if e.strip()]

    def name(s: str) -> str:
        return re.sub(r"[-_.]+", "-", re.match(r"\s*([A-Za-z0-9_.-]+)", s).group(1)).lower()

    via = {}
    for e in entries:
        parents = re.findall(r"#\s+(?:via\s+)?([A-Za-z0-9_.-]+)", e.split("# via", 1)[1]) if "# via" in e else []
        via.setdefault(name(e), set()).update(name(p) for p in parents)
    wanted = {name(r) for r in build_requires}
    while True:
        more = {n for n, parents in via.items() if parents & wanted} - wanted
        if not more:
            break
        wanted |= more
    return "".join(e.split("    # via")[0].rstrip() + "\n" for e in entries if name(e) in wanted)


def launcher_source_files() -> list[tuple[str, bytes]]:
    """(path, content) of what a repository needs to install the launcher from source (`pip install ./trusted`)."""
    files = subprocess.run(["git", "ls-files", "-z", "launcher", "requirements", "README.md", "LICENSE"],
                           cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [(rel, (REPO_ROOT / rel).read_bytes()) for rel in filter(None, files.decode().split("\0"))
            if (REPO_ROOT / rel).is_file()]
