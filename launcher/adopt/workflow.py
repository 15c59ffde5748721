"""The caller workflow `.github/workflows/runspecs.yml` that `launcher init` writes, and the pin it carries.

The pipeline itself is the launcher's reusable workflow; the caller pins it by full commit SHA (a tag can be
moved, a commit cannot), with the release as a comment, and installs the launcher of the same release. Releases
are the upstream repository's `vX.Y.Z` tags, read with `git ls-remote` (no API token needed); the URL can be
pointed elsewhere with LAUNCHER_UPSTREAM_URL (a mirror, a fork, or a test's bare repository).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from launcher import UPSTREAM_REPO
from launcher.adopt.layout import Layout
from launcher.diagnostics import LauncherError

PACKAGE = "runspec-launcher"
REUSABLE = ".github/workflows/runspecs-reusable.yml"
CALLER = ".github/workflows/runspecs.yml"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
_USES = re.compile(r"^(?P<indent>\s*)uses:\s*(?P<repo>[^/\s]+/[^/\s]+)/\.github/workflows/runspecs-reusable\.yml"
                   r"@(?P<sha>[0-9a-f]{40})(?:\s+#\s*(?P<label>\S+))?\s*$", re.M)
_PACKAGE_LINE = re.compile(r"^(?P<indent>\s*)launcher-package:.*$", re.M)


@dataclass(frozen=True)
class Pin:
    sha: str
    version: str | None = None   # "0.2.0" for a release tag, None for a plain commit

    @property
    def label(self) -> str:
        return f"v{self.version}" if self.version else "commit"

    def package(self, repo: str = UPSTREAM_REPO) -> str:
        """The launcher-package input: the release on the package index, or, before a release, the same
        commit from git (pip merges it with the Azure extra every job adds)."""
        if self.version:
            return f"{PACKAGE}=={self.version}"
        return f"{PACKAGE} @ git+https://github.com/{repo}@{self.sha}"


def upstream_url() -> str:
    return os.environ.get("LAUNCHER_UPSTREAM_URL") or f"https://github.com/{UPSTREAM_REPO}.git"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def list_releases(url: str) -> tuple[dict[str, str], str]:
    """({version: commit sha} of the vX.Y.Z tags, the default branch's commit) of the upstream repository."""
    import sys

    from launcher.gitutil import GitError, git

    if sys.stderr.isatty():  # a network round trip: say what is being waited for
        sys.stderr.write(f"reading the launcher's releases from {url} ...\n")
    try:
        out = git(["ls-remote", url, "HEAD"], os.getcwd()).stdout
        out += git(["ls-remote", "--tags", url], os.getcwd()).stdout
    except GitError as exc:
        raise LauncherError(f"cannot list the launcher's releases at {url}: {str(exc).splitlines()[0]}",
                            hint="check the network, or pin by hand: `launcher init --ref <40-hex commit>` "
                                 "(set LAUNCHER_UPSTREAM_URL to use a mirror)") from None
    tags: dict[str, str] = {}
    peeled: dict[str, str] = {}
    head = ""
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == "HEAD":
            head = sha
        elif ref.startswith("refs/tags/"):
            name = ref[len("refs/tags/"):]
            if name.endswith("^{}"):  # an annotated tag's commit
                peeled[name[:-3]] = sha
            else:
                tags[name] = sha
    tags.update(peeled)
    releases = {f"{m[1]}.{m[2]}.{m[3]}": sha for name, sha in tags.items() if (m := _RELEASE_TAG.match(name))}
    return releases, head


def resolve_pin(ref: str | None, *, installed_version: str, url: str | None = None) -> tuple[Pin, str]:
    """The pin for `ref` (a release tag vX.Y.Z, a 40-hex commit, or None: the release of the installed launcher
    if there is one, else the newest release, else the default branch's commit). Also returns a note."""
    if ref and _SHA.match(ref):
        return Pin(ref), "pinned to the commit given"
    url = url or upstream_url()
    releases, head = list_releases(url)
    if ref:
        m = _RELEASE_TAG.match(ref) or _RELEASE_TAG.match("v" + ref)
        version = f"{m[1]}.{m[2]}.{m[3]}" if m else None
        if version not in releases:
            known = ", ".join(f"v{v}" for v in sorted(releases, key=_version_key)[-5:]) or "none yet"
            raise LauncherError(f"--ref {ref}: no such release of the launcher at {url}",
                                hint=f"releases: {known}; or give a full 40-hex commit")
        return Pin(releases[version], version), f"pinned to release v{version}"
    if installed_version in releases:
        return Pin(releases[installed_version], installed_version), \
            f"pinned to v{installed_version}, the release installed here"
    if releases:
        newest = max(releases, key=_version_key)
        return Pin(releases[newest], newest), f"pinned to v{newest}, the newest release"
    if not head:
        raise LauncherError(f"{url} has neither a release nor a default branch",
                            hint="pin by hand: `launcher init --ref <40-hex commit>`")
    return Pin(head), "no release yet: pinned to the launcher's current default-branch commit (git install)"


def newest_release(url: str | None = None) -> Pin | None:
    releases, _ = list_releases(url or upstream_url())
    if not releases:
        return None
    newest = max(releases, key=_version_key)
    return Pin(releases[newest], newest)


def read_pin(text: str) -> Pin | None:
    """The pin of an existing caller workflow (its `uses:` line), None when it has none."""
    m = _USES.search(text)
    if not m:
        return None
    label = m["label"] or ""
    version = label[1:] if _RELEASE_TAG.match(label) else None
    return Pin(m["sha"], version)


def repin(text: str, pin: Pin, repo: str = UPSTREAM_REPO) -> str:
    """The caller with its `uses:` line and its `launcher-package:` input moved to pin; the rest as it was."""
    text = _USES.sub(lambda m: f"{m['indent']}uses: {m['repo']}/{REUSABLE}@{pin.sha} # {pin.label}", text, count=1)
    return _PACKAGE_LINE.sub(lambda m: f"{m['indent']}launcher-package: {_quote(pin.package(repo))}", text, count=1)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def caller_text(pin: Pin, layout: Layout, *, default_branch: str, ledger: str = "jobs.md",
                repo: str = UPSTREAM_REPO) -> str:
    """The caller, modelled on docs/github.md's example: every input of the pipeline passed through, the three
    permissions the callee's jobs need (and nothing else), no secret (Azure access is OIDC)."""
    return f"""\
# The GitOps pipeline for runspecs (written by `launcher init`): validate and smoke-run every changed runspec,
# launch the enabled ones after a maintainer approves the `launch` environment, record each job in {ledger}
# and on the pull request. The pipeline is runspec-launcher's reusable workflow, pinned by commit;
# `launcher init --upgrade` moves the pin (and the launcher-package below) to a newer release.
name: runspecs

on:
  # No `paths:` filter: a skipped workflow leaves a required check waiting forever.
  pull_request:
  push:
    branches: [{default_branch}]
  workflow_dispatch:
    inputs:
      runspec:
        description: "runspec to validate, smoke-run and launch (a path under {layout.runspec_root}/)"
        type: string
        required: true
      target:
        description: "compute target override (empty: the runspec's compute_target)"
        type: string
        default: ""
      dry_run:
        description: "validate and smoke-run only; do not launch"
        type: boolean
        default: false
      force:
        description: "launch again even if this content was launched before"
        type: boolean
        default: false

permissions: {{}}

jobs:
  runspecs:
    # the most the reusable workflow's jobs may ask for; each job asks for its own minimum
    permissions:
      contents: write # record: the ledger commit on the default branch
      pull-requests: write # record: the sticky comment
      id-token: write # launch: the OIDC token for Azure (only the gated launch job asks for it)
    uses: {repo}/{REUSABLE}@{pin.sha} # {pin.label}
    with:
      runspec: ${{{{ inputs.runspec || '' }}}}
      target: ${{{{ inputs.target || '' }}}}
      dry_run: ${{{{ inputs.dry_run || false }}}}
      force: ${{{{ inputs.force || false }}}}
      runspec-root: {layout.runspec_root}
      ledger: {ledger}
      # the launcher every job installs (each adds the Azure extra itself), the release of the pin above
      launcher-package: {_quote(pin.package(repo))}
"""
