"""GitHub Actions plumbing: workflow commands (annotations), environment files (outputs, step summary),
event payloads, and a small REST client for the one thing we post (the sticky PR comment).

Only `GitHubAPI` talks to the network, and only when called; it uses urllib, so no extra dependency."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from launcher.diagnostics import LauncherError, UsageError


def _escape_data(s: str) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData)
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    # escapeProperty: also ':' and ',' which separate properties
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def format_annotation(severity: str, message: str, *, file: str = "", line: int = 0, col: int = 0,
                      title: str = "") -> str:
    """One `::error file=…,line=…,col=…,title=…::message` line (severity error|warning|notice)."""
    level = {"error": "error", "warning": "warning"}.get(severity, "notice")
    props = []
    if file:
        props.append(f"file={_escape_property(file)}")
    if line:
        props.append(f"line={line}")
    if col:
        props.append(f"col={col}")
    if title:
        props.append(f"title={_escape_property(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{_escape_data(message)}"


def origin_link(origin: str, env: dict | None = None) -> str:
    """The ledger's origin cell as a link, inside GitHub Actions: 'PR #12' to the pull request (where the job's
    sticky comment is), anything else ('dispatch by @alice') to the workflow run that launched it. Unchanged
    outside Actions, or when it is a link already."""
    env = os.environ if env is None else env
    server, repo, run_id = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    if env.get("GITHUB_ACTIONS") != "true" or not origin or origin.startswith("[") or not (server and repo):
        return origin
    text = origin.replace("[", "(").replace("]", ")")
    match = re.match(r"^PR #(\d+)$", origin)
    if match:
        return f"[{text}]({server}/{repo}/pull/{match.group(1)})"
    return f"[{text}]({server}/{repo}/actions/runs/{run_id})" if run_id else origin


def append_step_summary(markdown: str) -> bool:
    """Append to $GITHUB_STEP_SUMMARY when set; returns whether it was written."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown.rstrip("\n") + "\n\n")
    return True


def set_output(name: str, value: str) -> bool:
    """Write a step output to $GITHUB_OUTPUT (multi-line safe, with a random delimiter)."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    delim = f"ghadelimiter_{uuid.uuid4().hex}"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{name}<<{delim}\n{value}\n{delim}\n")
    return True


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def workspace_relative(path: str | Path) -> str:
    """Annotations need repository-relative paths.

    The runspecs workflow checks the repository out into a folder of the workspace (repo/, payload/), so a
    path is taken relative to the nearest git checkout at or below $GITHUB_WORKSPACE that holds it, else
    relative to the workspace (or the current folder outside Actions).
    """
    p = Path(path)
    root = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    resolved = p.resolve()
    try:
        resolved.relative_to(root)
    except ValueError:
        return p.as_posix()
    for folder in resolved.parents:
        if (folder / ".git").exists():
            return resolved.relative_to(folder).as_posix()
        if folder == root:
            break
    return resolved.relative_to(root).as_posix()


# ---------------------------------------------------------------------------------------------------------
# Event payloads: which commits an event covers, whether it comes from a fork, who triggered it.

ZERO_SHA = "0" * 40
RUNSPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class Event:
    """A GitHub Actions event: its name ($GITHUB_EVENT_NAME) and payload ($GITHUB_EVENT_PATH)."""

    name: str
    payload: dict
    source: str = ""  # where the payload came from, for messages

    @property
    def pull_request(self) -> dict:
        pr = self.payload.get("pull_request")
        return pr if isinstance(pr, dict) else {}

    @property
    def repository(self) -> str:
        repo = self.payload.get("repository") or {}
        return str(repo.get("full_name") or os.environ.get("GITHUB_REPOSITORY") or "")

    @property
    def default_branch(self) -> str:
        repo = self.payload.get("repository") or {}
        return str(repo.get("default_branch") or "")

    @property
    def pr_number(self) -> int | None:
        number = self.pull_request.get("number") or self.payload.get("number")
        return int(number) if isinstance(number, int) or (isinstance(number, str) and number.isdigit()) else None

    @property
    def is_fork(self) -> bool:
        """A pull request whose head lives in another repository. Such runs get a read-only token and no
        secrets, and they must never reach the launch job: untrusted code is validated, never launched."""
        if self.name not in ("pull_request", "pull_request_target"):
            return False
        head_repo = (self.pull_request.get("head") or {}).get("repo")
        if not isinstance(head_repo, dict):
            return True  # the fork was deleted: nothing proves it is ours
        base_repo = (self.pull_request.get("base") or {}).get("repo") or {}
        ours = base_repo.get("full_name") or self.repository
        return head_repo.get("full_name") != ours

    @property
    def actor(self) -> str:
        sender = self.payload.get("sender") or {}
        pusher = self.payload.get("pusher") or {}
        return str(sender.get("login") or pusher.get("name") or os.environ.get("GITHUB_ACTOR") or "unknown")

    @property
    def branch(self) -> str:
        """The branch the event is about: the PR's head branch, or the pushed/dispatched ref's branch."""
        if self.pull_request:
            return str((self.pull_request.get("head") or {}).get("ref") or "")
        ref = str(self.payload.get("ref") or os.environ.get("GITHUB_REF") or "")
        return ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref

    @property
    def origin(self) -> str:
        """What the ledger row says started the job."""
        if self.name.startswith("pull_request") and self.pr_number is not None:
            return f"PR #{self.pr_number}"
        if self.name == "workflow_dispatch":
            return f"dispatch by @{self.actor}"
        if self.name == "push":
            return f"push by @{self.actor}"
        return f"{self.name} by @{self.actor}"

    @property
    def inputs(self) -> dict:
        inputs = self.payload.get("inputs")
        return inputs if isinstance(inputs, dict) else {}


def load_event(path: str | Path | None = None, name: str | None = None) -> Event:
    """Read the event from the given file/name, else from $GITHUB_EVENT_PATH / $GITHUB_EVENT_NAME."""
    import json

    path = path or os.environ.get("GITHUB_EVENT_PATH") or ""
    name = name or os.environ.get("GITHUB_EVENT_NAME") or ""
    if not path:
        raise UsageError("no event payload: GITHUB_EVENT_PATH is not set",
                         hint="outside GitHub Actions pass --event-path FILE --event-name NAME, "
                              "or --base SHA --head SHA, or --runspec PATH")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LauncherError(f"cannot read the event payload {path}: {exc.strerror or exc}") from None
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise LauncherError(f"{path}: the event payload is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise LauncherError(f"{path}: the event payload is not a JSON object")
    if not name:
        # Guess from the payload's shape, so a saved payload works without --event-name.
        if "pull_request" in payload:
            name = "pull_request"
        elif "inputs" in payload:
            name = "workflow_dispatch"
        elif "before" in payload and "after" in payload:
            name = "push"
        else:
            raise UsageError("cannot tell the event's name", hint="pass --event-name or set GITHUB_EVENT_NAME")
    return Event(name=name, payload=payload, source=str(path))


def matrix_id(runspec: str) -> str:
    """A name usable as an artifact name and a concurrency group, unique per path: runspecs/a b.yaml ->
    runspecs-a-b.yaml-1f3c5e7a. The readable part alone collides ('a b.yaml' and 'a-b.yaml', 'ä.yaml' and
    'ö.yaml'); the short hash of the full path tells them apart."""
    import hashlib
    import re

    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", runspec).strip("-")[:80] or "runspec"
    return f"{readable}-{hashlib.sha256(runspec.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def step_summary_limit(markdown: str, limit: int = 1_000_000) -> str:
    """The step summary upload is aborted above 1 MiB: cut, and say so, rather than lose it all."""
    if len(markdown.encode("utf-8")) <= limit:
        return markdown
    cut = markdown.encode("utf-8")[: limit - 200].decode("utf-8", "ignore")
    return cut + "\n\n… (cut: the step summary is limited to 1 MiB; the JSON artifact has everything)\n"


# ---------------------------------------------------------------------------------------------------------
# REST API: just enough to keep one sticky comment per runspec on a pull request.

DEFAULT_BOT = "github-actions[bot]"


class GitHubAPI:
    """GitHub REST calls over urllib. `api_url` from $GITHUB_API_URL, token from $GITHUB_TOKEN."""

    def __init__(self, repo: str, token: str, api_url: str = "https://api.github.com", *, retries: int = 3,
                 timeout: float = 30.0) -> None:
        self.repo = repo
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.timeout = timeout

    @classmethod
    def from_env(cls, repo: str = "") -> "GitHubAPI":
        repo = repo or os.environ.get("GITHUB_REPOSITORY", "")
        token = os.environ.get("GITHUB_TOKEN", "") or os.environ.get("GH_TOKEN", "")
        if not repo or "/" not in repo:
            raise LauncherError("which repository? GITHUB_REPOSITORY is not set", hint="pass --repo OWNER/REPO")
        if not token:
            raise LauncherError("GITHUB_TOKEN is not set: cannot post the comment",
                                hint="in the workflow: env: GITHUB_TOKEN: ${{ github.token }} with "
                                     "permissions: pull-requests: write")
        return cls(repo, token, os.environ.get("GITHUB_API_URL") or "https://api.github.com")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[object, dict]:
        """(decoded JSON, response headers). Retries 5xx, 429 and secondary rate limits a few times."""
        import json
        import time
        import urllib.error
        import urllib.request

        url = path if path.startswith("http") else f"{self.api_url}{path}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "runspec-launcher",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - https/http API URL
                    raw = resp.read()
                    return (json.loads(raw) if raw else None), dict(resp.headers)
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", "replace")
                try:
                    message = json.loads(text).get("message", text)
                except ValueError:
                    message = text
                retryable = exc.code >= 500 or exc.code == 429 or (
                    exc.code == 403 and "rate limit" in str(message).lower())
                if retryable and attempt < self.retries:
                    wait = exc.headers.get("Retry-After") if exc.headers else None
                    time.sleep(min(float(wait) if wait and wait.isdigit() else 2.0 ** attempt, 30.0))
                    continue
                hint = ""
                if exc.code in (401, 403, 404):
                    hint = ("the token needs `pull-requests: write`; pull requests from forks get a read-only "
                            "token, so the workflow never comments on them")
                raise LauncherError(f"GitHub API {method} {path}: HTTP {exc.code}: {message}", hint=hint) from None
            except urllib.error.URLError as exc:
                if attempt < self.retries:
                    time.sleep(min(2.0 ** attempt, 30.0))
                    continue
                raise LauncherError(f"GitHub API {method} {path}: {exc.reason}") from None
        raise AssertionError("unreachable")

    def paged(self, path: str) -> list:
        """Every item of a list endpoint, following the Link: rel="next" headers."""
        import re

        items: list = []
        sep = "&" if "?" in path else "?"
        url: str | None = f"{path}{sep}per_page=100"
        pages = 0
        while url and pages < 200:  # 20,000 comments: far beyond any real PR, and a bound on a bad server
            data, headers = self.request("GET", url)
            items.extend(data or [])
            pages += 1
            link = headers.get("Link") or headers.get("link") or ""
            m = re.search(r'<([^>]+)>;\s*rel="next"', link)
            url = self._same_api(m.group(1)) if m else None
        return items

    def _same_api(self, url: str) -> str:
        """A Link header's next page, only on the API's own scheme, host and path: the token goes along with it."""
        from urllib.parse import urlsplit

        api, nxt = urlsplit(self.api_url), urlsplit(url)
        if (nxt.scheme, nxt.netloc) != (api.scheme, api.netloc) or not (
                nxt.path == api.path or nxt.path.startswith(api.path.rstrip("/") + "/")):
            raise LauncherError(f"GitHub API: the next page is at {nxt.scheme}://{nxt.netloc}{nxt.path}, not on "
                                f"{self.api_url}; not following it with the token",
                                hint="a proxy or server rewrote the Link header; set GITHUB_API_URL to the API "
                                     "that serves the pages")
        return url

    def issue_comments(self, number: int) -> list[dict]:
        return self.paged(f"/repos/{self.repo}/issues/{number}/comments")

    def create_comment(self, number: int, body: str) -> dict:
        data, _ = self.request("POST", f"/repos/{self.repo}/issues/{number}/comments", {"body": body})
        return data  # type: ignore[return-value]

    def update_comment(self, comment_id: int, body: str) -> dict:
        data, _ = self.request("PATCH", f"/repos/{self.repo}/issues/comments/{comment_id}", {"body": body})
        return data  # type: ignore[return-value]

    def delete_comment(self, comment_id: int) -> None:
        self.request("DELETE", f"/repos/{self.repo}/issues/comments/{comment_id}")

    def open_pr_for_branch(self, branch: str) -> int | None:
        """The open pull request whose head is this repository's `branch` (a dispatch comments there)."""
        import urllib.parse

        owner = self.repo.split("/")[0]
        head = urllib.parse.quote(f"{owner}:{branch}", safe="")
        data, _ = self.request("GET", f"/repos/{self.repo}/pulls?state=open&head={head}")
        prs = [p for p in data or [] if isinstance(p, dict) and p.get("number")]
        return int(prs[0]["number"]) if prs else None


def upsert_sticky_comment(api: GitHubAPI, number: int, body: str, marker: str, *,
                          author: str = DEFAULT_BOT) -> tuple[str, dict]:
    """Create or update the one comment that carries `marker` AND was written by `author`.

    Comments by anyone else are never touched, even when they quote the marker. When two racing runs both
    created one, the oldest is kept and updated and the other copies are deleted, so the PR ends with one.
    Returns (action, comment): action is created | updated | unchanged.
    """
    ours = [c for c in api.issue_comments(number)
            if isinstance(c, dict) and (c.get("user") or {}).get("login") == author
            and str(c.get("body") or "").startswith(marker)]
    ours.sort(key=lambda c: int(c.get("id") or 0))
    if not ours:
        return "created", api.create_comment(number, body)
    keep, extra = ours[0], ours[1:]
    for c in extra:
        api.delete_comment(int(c["id"]))
    if str(keep.get("body") or "").rstrip() == body.rstrip():
        return "unchanged", keep
    return "updated", api.update_comment(int(keep["id"]), body)
