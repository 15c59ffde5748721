"""runspec-launcher: validate, smoke-run, launch and record rl_nexus runspecs."""

# The version is the git tag the package was built from (setuptools-scm writes launcher/_version.py at build
# and install time, with the commit). A source tree that was never built or installed has neither.
try:
    from launcher._version import __commit_id__, __version__
except ImportError:  # pragma: no cover - only in a bare source copy
    __version__, __commit_id__ = "0.0.0", None

# The upstream repository of the launcher on GitHub: where `launcher init` pins the reusable workflow and the
# git URL of the package. One place: a fork or a move changes this line (and the JSON schema's $id).
UPSTREAM_REPO = "runspec-launcher/runspec-launcher"


def version_line() -> str:
    """`launcher --version`: the version and the commit it was built from."""
    commit = (__commit_id__ or "").removeprefix("g") or "unknown"
    return f"launcher {__version__} (commit {commit})"
