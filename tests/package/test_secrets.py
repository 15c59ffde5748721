"""Secrets in code snapshots: detect-secrets' plugins through the launcher's fast screen, its baseline, .git paths.

The secrets below are made-up values in the formats the scanners know; they are split in the source so that this
file itself does not look like it holds them."""

from __future__ import annotations

import json
import os
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher.diagnostics import LauncherError
from launcher.package import build_snapshot
from launcher.secrets import SecretScanner, _Corpus, _screens, screened_plugins

FILES = {"README.md": "# demo\n", "train.py": "print('train')\n"}
B64_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"

#: The kinds of secret issue 13 found packed without complaint, each as (file name, content).
CASES = {
    "gcp service-account key (PEM with JSON-escaped newlines)": (
        "service.json", json.dumps({"type": "service_account", "project_id": "demo",
                                    "private_key": "-----BEGIN " + "PRIVATE KEY-----\n" + B64_BODY + "\n-----END "
                                                   "PRIVATE KEY-----\n"}) + "\n"),
    "encrypted PEM": (
        "deploy/server_cert", "-----BEGIN RSA " + "PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        "DEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n" + B64_BODY + "\n-----END RSA PRIVATE KEY-----\n"),
    "PuTTY key": (
        "keys/deploy.ppk.txt", "PuTTY-User-" + "Key-File-2: ssh-rsa\nEncryption: none\nComment: rsa-key\n"
        "Public-Lines: 1\n" + B64_BODY + "\n"),
    ".npmrc auth token": (
        ".npmrc", "//registry.example.invalid/:_auth" + "Token=npm_" + "a8Bc9dEf0gH1iJ2kL3mN4oP5qR6sT7uV8wX9\n"),
    "AWS keys": (
        "aws_settings.py", 'ACCESS = "AKIA' + 'IOSFODNN7EXAMPLE"\nSECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY' +
        'EXAMPLEKEY"\n'),
    "GitHub token in an ini file": (
        "deploy.ini", "[auth]\nGITHUB_TOKEN=ghp_" + "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5\n"),
    "kubeconfig token": (
        "cluster.yaml", "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: eyJhbGciOiJSUzI1NiIs"
        "ImtpZCI6IiJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ\n"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_secret_kind_of_issue_13_is_refused(make_repo, kind):
    name, content = CASES[kind]
    repo = make_repo({**FILES, name: content})
    with pytest.raises(LauncherError, match="look like secrets") as info:
        build_snapshot(repo)
    assert name in info.value.message, info.value.message
    assert "pragma: allowlist secret" in info.value.hint and ".secrets.baseline" in info.value.hint


def test_a_clean_tree_packs_and_ordinary_code_passes_the_screen(make_repo):
    code = "".join(f"def f_{k}(x):\n    return x * {k}\n\n" for k in range(50))
    repo = make_repo({**FILES, "pkg/mod.py": code, "pkg/config.yaml": "learning_rate: 0.001\nname: maze\n"})
    snap = build_snapshot(repo)
    assert "pkg/mod.py" in snap.files
    names, _unscreened = screened_plugins()
    screens = _screens([])
    corpus = _Corpus([b"x = 1\n", code.encode()])
    assert all(screens[n](corpus) == set() for n in names)


def test_every_default_plugin_has_a_screen():
    # A detect-secrets upgrade that adds a plugin still scans every file (never blind), but slowly: this says so.
    names, unscreened = screened_plugins()
    assert len(names) >= 25
    assert unscreened == []


def test_inline_allowlist_and_baseline_allow_false_positives(make_repo):
    token = "ghp_" + "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
    repo = make_repo({**FILES, "a.ini": f"[x]\nTOKEN={token}  # pragma: allowlist secret\n"})
    assert "a.ini" in build_snapshot(repo).files
    repo = make_repo({**FILES, "b.ini": f"[x]\nTOKEN={token}\n"}, "second")
    found = SecretScanner(repo).scan({"b.ini": (repo / "b.ini", (repo / "b.ini").read_bytes())})
    assert "GitHub Token" in [f.kind for f in found] and {f.line for f in found} == {2}
    baseline = {"version": "1.5.0", "results": {"b.ini": [
        {"type": f.kind, "filename": "b.ini", "hashed_secret": f.secret_hash, "line_number": 2,
         "is_verified": False} for f in found]}}
    repo = make_repo({**FILES, "b.ini": f"[x]\nTOKEN={token}\n", ".secrets.baseline": json.dumps(baseline)},
                     "third")
    assert "b.ini" in build_snapshot(repo).files
    # audited as a real secret: the baseline does not allow it
    for entry in baseline["results"]["b.ini"]:
        entry["is_secret"] = True
    repo = make_repo({**FILES, "b.ini": f"[x]\nTOKEN={token}\n", ".secrets.baseline": json.dumps(baseline)},
                     "fourth")
    with pytest.raises(LauncherError, match="b.ini \\(line 2"):
        build_snapshot(repo)


def test_a_baseline_cannot_load_code_or_be_garbage(make_repo):
    custom = {"version": "1.5.0", "plugins_used": [{"name": "Evil", "path": "file://evil.py"}], "results": {}}
    repo = make_repo({**FILES, ".secrets.baseline": json.dumps(custom), "evil.py": "raise SystemExit(9)\n"})
    with pytest.raises(LauncherError, match="by file path"):
        build_snapshot(repo)
    repo = make_repo({**FILES, ".secrets.baseline": "{not json"}, "b")
    with pytest.raises(LauncherError, match="not a detect-secrets baseline"):
        build_snapshot(repo)


def test_git_config_is_never_packed_through_a_symlink_or_extras(make_repo, git):
    repo = make_repo(FILES)
    git("config", "remote.origin.url", "https://x-access-token:tok@example.invalid/r.git", cwd=repo)
    os.symlink(".git/config", repo / "settings.cfg")
    git("add", "settings.cfg", cwd=repo)
    git("commit", "--quiet", "-m", "link", cwd=repo)
    with pytest.raises(LauncherError, match="settings.cfg .*\\.git folder"):
        build_snapshot(repo)
    repo = make_repo(FILES, "extras")
    with pytest.raises(LauncherError, match="names git's own .git folder"):
        build_snapshot(repo, extras=[".git/config"])
    os.symlink(".git", repo / "gitdir")  # a folder link, untracked: the extra names a file through it
    with pytest.raises(LauncherError, match="gitdir/config \\(it is a link to .git/config"):
        build_snapshot(repo, extras=["gitdir/config"], allow_dirty=True)
    snap = build_snapshot(repo, extras=["**/*.md"], allow_dirty=True)  # a wildcard never walks into .git
    assert not any(p.startswith(".git/") or "/.git/" in p for p in snap.files)


_ALPHABET = string.ascii_letters + string.digits + "+/=_-.:@'\" \t"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["AKIA", "ghp_", "eyJ", "://", "xoxb-", "AccountKey=", "password", "sk-",
                                 "T3BlbkFJ", "SG.", "glpat-", "AKC", "AP", "AC", "SK", "'", '"', "=", ":", "@",
                                 "10.", "-us1", "PRIVATE KEY", "pypi-", "_authToken", "k_live_", "\n"])
                | st.text(alphabet=_ALPHABET, min_size=1, max_size=50), max_size=12),
       st.sampled_from(["a.py", "a.yaml", "a.ini", "a.txt", ".npmrc", "a.json"]))
def test_the_screen_never_hides_what_detect_secrets_would_report(tmp_path_factory, parts, name):
    # Whatever detect-secrets' full scan reports in a file, that plugin's screen lets the file through.
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings, get_plugins

    data = "".join(parts).encode()
    path = tmp_path_factory.mktemp("screen") / name
    path.write_bytes(data)
    with default_settings():
        plugins = {p.secret_type: type(p).__name__ for p in get_plugins()}
        screens = _screens(list(get_plugins()))
        for found in scan_file(str(path)):
            # the file among others, as the snapshot screens it
            assert 1 in screens[plugins[found.type]](_Corpus([b"x", data, b"y"])), (plugins[found.type], data)


@pytest.mark.slow
def test_this_repository_snapshots_with_its_baseline():
    # `make demo` launches from this repository: its fake test secrets are listed in .secrets.baseline
    # (regenerate with `detect-secrets scan > .secrets.baseline` after adding one).
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    assert (repo / ".secrets.baseline").is_file()
    assert build_snapshot(repo, allow_dirty=True).file_count > 100
