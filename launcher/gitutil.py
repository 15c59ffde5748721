"""The one seam for running git: argv lists (never a shell), a fixed environment, errors that say what failed.

Every git call of the launcher goes through `git()`, so tests and error messages see the same thing:
the command, its exit code and the last lines of its stderr.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from launcher.diagnostics import LauncherError

#: Used when the repository has no user.name / user.email (a fresh CI runner, a container).
FALLBACK_NAME = "runspec-launcher"
FALLBACK_EMAIL = "launcher@users.noreply.github.com"


class GitError(LauncherError):
    """A git command failed; carries the argv, the exit code and stderr for callers that classify failures."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, stdout: str = "", *, hint: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        tail = "\n".join(stderr.strip().splitlines()[-3:])
        message = f"`{' '.join(self.argv)}` failed (exit {returncode})"
        if tail:
            message += ":\n  " + tail.replace("\n", "\n  ")
        super().__init__(message, hint=hint)


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # C locale: we parse a few of git's messages ("[rejected]", "fetch first"); no prompts for credentials
    # in CI or tests (a prompt would hang the workflow); no optional index locks so that read-only status
    # calls never race with the user's own git commands.
    env.update({"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    env.pop("GIT_INDEX_FILE", None)
    if extra:
        env.update(extra)
    return env


def git(args: list[str], cwd: str | Path, *, check: bool = True, input: bytes | str | None = None,
        env: dict[str, str] | None = None, text: bool = True, config: list[str] | None = None,
        hint: str = "") -> subprocess.CompletedProcess:
    """Run `git [-c k=v ...] ARGS` in cwd; raise GitError on a non-zero exit when check."""
    argv = ["git"]
    for item in config or ():
        argv += ["-c", item]
    argv += [str(a) for a in args]
    if text and isinstance(input, bytes):
        input = input.decode("utf-8")
    try:
        proc = subprocess.run(argv, cwd=str(cwd), input=input, capture_output=True, env=_env(env),
                              text=text, encoding="utf-8" if text else None,
                              errors="surrogateescape" if text else None)
    except FileNotFoundError as exc:
        if exc.filename == "git" or not Path(cwd).exists():
            what = "git is not installed (or not on PATH)" if exc.filename == "git" else f"folder {cwd} does not exist"
            raise LauncherError(what, hint="install git and run again" if exc.filename == "git" else "") from None
        raise
    if check and proc.returncode != 0:
        stderr = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        stdout = proc.stdout if text else proc.stdout.decode("utf-8", "replace")
        raise GitError(argv, proc.returncode, stderr, stdout, hint=hint)
    return proc


def git_out(args: list[str], cwd: str | Path, **kwargs) -> str:
    """stdout of a git command, without the trailing newline."""
    return git(args, cwd, **kwargs).stdout.rstrip("\n")


def repo_root(path: str | Path) -> Path:
    """The top folder of the working tree that holds path; a LauncherError when it is not in a git repository."""
    path = Path(path)
    if not path.is_dir():
        raise LauncherError(f"{path} is not a folder")
    proc = git(["rev-parse", "--show-toplevel"], path, check=False)
    if proc.returncode != 0:
        raise LauncherError(f"{path} is not inside a git repository",
                            hint="run `git init` and commit your project, or run the launcher inside your "
                                 "project's checkout")
    return Path(proc.stdout.strip())


def is_repo(path: str | Path) -> bool:
    return Path(path).is_dir() and git(["rev-parse", "--git-dir"], path, check=False).returncode == 0


def head_commit(path: str | Path) -> str:
    """The full sha of HEAD, or '' in a repository without commits."""
    proc = git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], path, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def current_branch(path: str | Path) -> str:
    """The checked-out branch name, or '' on a detached HEAD (CI checkouts of a PR merge ref)."""
    proc = git(["symbolic-ref", "--quiet", "--short", "HEAD"], path, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def identity_config(path: str | Path) -> list[str]:
    """`-c` items that give commits an author when the repository has none configured, else []."""
    name = git(["config", "user.name"], path, check=False).stdout.strip()
    email = git(["config", "user.email"], path, check=False).stdout.strip()
    if name and email:
        return []
    return [f"user.name={name or FALLBACK_NAME}", f"user.email={email or FALLBACK_EMAIL}"]
