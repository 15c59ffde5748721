"""build_snapshot / upload_snapshot on real git repositories."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from launcher.diagnostics import LauncherError
from launcher.package import build_snapshot, extract_snapshot, secret_reason, upload_snapshot
from launcher.store.local import LocalStore

FILES = {
    "README.md": "# demo\n",
    "launcher_demo/train.py": "print('train')\n",
    "run.sh": "#!/bin/sh\necho run\n",
    "runspecs/demo.yaml": "root: 1\n",
    ".gitignore": "results/\n*.log\n",
}


def names(snapshot) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(snapshot.zip_bytes)) as zf:
        return zf.namelist()


def test_snapshot_packs_tracked_files_with_fixed_metadata(make_repo, git):
    repo = make_repo(FILES, executable=("run.sh",))
    (repo / "results").mkdir()
    (repo / "results" / "out.txt").write_text("ignored\n")
    (repo / "debug.log").write_text("ignored\n")
    snap = build_snapshot(repo)
    assert names(snap) == sorted(FILES)
    assert snap.files == sorted(FILES)
    assert snap.file_count == 5 and snap.byte_count == sum(len(t) for t in FILES.values())
    assert snap.commit == git("rev-parse", "HEAD", cwd=repo).strip()
    assert not snap.dirty and snap.dirty_files == []
    assert snap.key == f"code/{snap.sha256}.zip"
    with zipfile.ZipFile(io.BytesIO(snap.zip_bytes)) as zf:
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.create_system == 3
            perms = (info.external_attr >> 16) & 0o777
            assert perms == (0o755 if info.filename == "run.sh" else 0o644)
        assert zf.read("launcher_demo/train.py") == b"print('train')\n"


def test_same_files_give_the_same_bytes_whatever_the_repository_or_time(make_repo, git, monkeypatch):
    a = make_repo(FILES, "a", executable=("run.sh",))
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2001-02-03T04:05:06")  # another commit, made at another time
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2001-02-03T04:05:06")
    b = make_repo(dict(reversed(list(FILES.items()))), "b", executable=("run.sh",))
    for path in FILES:
        os.utime(b / path, (1_000_000, 1_000_000))  # other mtimes
    sa, sb = build_snapshot(a), build_snapshot(b)
    assert sa.commit != sb.commit
    assert sa.zip_bytes == sb.zip_bytes and sa.sha256 == sb.sha256
    assert build_snapshot(a).sha256 == sa.sha256
    (a / "README.md").write_text("# changed\n")
    git("commit", "--quiet", "-am", "change", cwd=a)
    assert build_snapshot(a).sha256 != sa.sha256


def test_staged_new_files_are_included_and_make_the_tree_dirty(make_repo, git):
    repo = make_repo(FILES)
    (repo / "new_module.py").write_text("x = 1\n")
    git("add", "new_module.py", cwd=repo)
    (repo / "untracked.py").write_text("not packed\n")
    with pytest.raises(LauncherError, match=r"uncommitted changes \(or untracked code or runspecs\): "
                                            "new_module.py, untracked.py") as info:
        build_snapshot(repo)
    assert "--allow-dirty" in info.value.hint
    snap = build_snapshot(repo, allow_dirty=True)
    assert "new_module.py" in names(snap) and "untracked.py" not in names(snap)
    assert snap.dirty and snap.dirty_files == ["new_module.py", "untracked.py"]


def test_dirty_tree_uses_working_tree_content_and_skips_deleted_files(make_repo, git):
    repo = make_repo(FILES)
    (repo / "README.md").write_text("# edited, not committed\n")
    (repo / "runspecs" / "demo.yaml").unlink()
    snap = build_snapshot(repo, allow_dirty=True)
    with zipfile.ZipFile(io.BytesIO(snap.zip_bytes)) as zf:
        assert zf.read("README.md") == b"# edited, not committed\n"
    assert "runspecs/demo.yaml" not in names(snap) and snap.skipped == ["runspecs/demo.yaml"]
    assert snap.dirty_files == ["README.md", "runspecs/demo.yaml"]


def test_the_store_folder_never_makes_the_tree_dirty(make_repo):
    repo = make_repo({"a.py": "1\n"})  # no .gitignore for .launcher/
    LocalStore(repo / ".launcher").write_text("jobs/job1/job.json", "{}")
    snap = build_snapshot(repo)
    assert not snap.dirty and names(snap) == ["a.py"]


def test_extras_are_added_by_glob(make_repo):
    repo = make_repo(FILES)
    (repo / "results").mkdir()
    (repo / "results" / "model.bin").write_bytes(b"\x00" * 10)
    (repo / "results" / "notes.txt").write_text("n\n")
    snap = build_snapshot(repo, extras=["results/*.bin", "README.md"], allow_dirty=False)
    assert "results/model.bin" in names(snap) and "results/notes.txt" not in names(snap)
    assert names(snap).count("README.md") == 1
    with pytest.raises(LauncherError, match="relative glob inside the project"):
        build_snapshot(repo, extras=["../*"])


@pytest.mark.parametrize("secret", [".env", ".env.production", "config/prod.pem", "certs/server.key", "a.pfx",
                                    "b.p12", "id_rsa", "keys/id_ed25519.pub", "credentials.json",
                                    "gcp/credentials-prod.json", "token.secret", ".azure/config",
                                    ".aws/credentials", "home/.ssh/known_hosts"])
def test_tracked_secrets_stop_the_snapshot(make_repo, secret):
    repo = make_repo({**FILES, secret: "value\n"})
    with pytest.raises(LauncherError) as info:
        build_snapshot(repo)
    assert secret in info.value.message and "secrets" in info.value.message
    assert "git rm --cached" in info.value.hint and "rename" in info.value.hint


def test_secret_extras_and_private_key_contents_are_refused(make_repo):
    repo = make_repo(FILES)
    (repo / "deploy.pem").write_text("x\n")
    with pytest.raises(LauncherError, match="deploy.pem"):
        build_snapshot(repo, extras=["*.pem"], allow_dirty=True)
    key = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" * 2 + "\n"
    repo2 = make_repo({**FILES, "config/deploy_settings": key}, "p2")
    with pytest.raises(LauncherError, match="config/deploy_settings \\(line 1: Private Key\\)"):
        build_snapshot(repo2)


def test_names_that_are_not_secrets():
    for ok in (".env.example", ".env.sample", "keyboard.py", "docs/keys.md", "env.py", "credentials.py",
               "monkey.yaml", "secret_santa.py"):
        assert secret_reason(ok) == "", ok
    assert secret_reason("sub/.ENV") != ""


def test_not_a_git_repository_is_a_clear_error(tmp_path):
    (tmp_path / "a.py").write_text("1\n")
    with pytest.raises(LauncherError, match="not inside a git repository") as info:
        build_snapshot(tmp_path)
    assert "git init" in info.value.hint


def test_a_subfolder_project_packs_only_its_files(make_repo):
    repo = make_repo({"other/x.py": "1\n", "proj/a.py": "2\n", "proj/sub/b.py": "3\n"})
    snap = build_snapshot(repo / "proj")
    assert names(snap) == ["a.py", "sub/b.py"]
    (repo / "other" / "y.py").write_text("outside the project: not our business\n")
    (repo / "proj" / "sub" / "b.py").write_text("changed\n")
    assert build_snapshot(repo / "proj", allow_dirty=True).dirty_files == ["sub/b.py"]


def test_symlinks_inside_are_packed_as_files_and_links_outside_are_refused(make_repo, git, tmp_path):
    repo = make_repo(FILES)
    (repo / "alias.py").symlink_to("launcher_demo/train.py")
    git("add", "alias.py", cwd=repo)
    git("commit", "--quiet", "-m", "link", cwd=repo)
    with zipfile.ZipFile(io.BytesIO(build_snapshot(repo).zip_bytes)) as zf:
        assert zf.read("alias.py") == b"print('train')\n"
    (tmp_path / "outside.txt").write_text("runner credentials\n")
    (repo / "data.txt").symlink_to(tmp_path / "outside.txt")
    git("add", "data.txt", cwd=repo)
    git("commit", "--quiet", "-m", "sneaky link", cwd=repo)
    with pytest.raises(LauncherError, match="data.txt \\(a symlink that points outside the project\\)"):
        build_snapshot(repo)


def test_upload_is_content_addressed_and_happens_once(make_repo, tmp_path):
    snap = build_snapshot(make_repo(FILES))
    store = LocalStore(tmp_path / "store")
    key, sent = upload_snapshot(store, snap)
    assert key == f"code/{snap.sha256}.zip" and sent == snap.zip_size > 0
    assert store.read_bytes(key) == snap.zip_bytes
    assert upload_snapshot(store, snap) == (key, 0)


def test_extract_restores_files_and_executable_bits(make_repo, tmp_path):
    snap = build_snapshot(make_repo(FILES, executable=("run.sh",)))
    dest = tmp_path / "code"
    assert extract_snapshot(snap.zip_bytes, dest) == sorted(FILES)
    assert (dest / "launcher_demo" / "train.py").read_text() == "print('train')\n"
    assert os.access(dest / "run.sh", os.X_OK) and not os.access(dest / "README.md", os.X_OK)


def test_excluded_paths_are_neither_packed_nor_dirty(make_repo):
    """The ledger (tracked or not) and its temp files: rewriting them changes neither the sha256 nor cleanliness."""
    repo = make_repo({**FILES, "docs/jobs.md": "# Jobs\n"})
    ledger = ["docs/jobs.md", "docs/.tmp-jobs.md.*", "docs/.jobs.md.*.tmp"]
    before = build_snapshot(repo, exclude=ledger)
    assert "docs/jobs.md" not in before.files and before.file_count == len(FILES)
    (repo / "docs" / "jobs.md").write_text("# Jobs\n\n| job | ... |\n")  # a launch rewrote the tracked ledger
    (repo / "docs" / ".tmp-jobs.md.k2j4h1.tmp").write_text("half\n")  # a concurrent write in progress
    after = build_snapshot(repo, exclude=ledger)  # allow_dirty=False: it would raise if the tree were dirty
    assert not after.dirty and after.dirty_files == []
    assert after.sha256 == before.sha256
    # Without the exclusion both files count (what launch.py used to filter out by hand).
    with pytest.raises(LauncherError) as err:
        build_snapshot(repo)
    assert "docs/jobs.md" in err.value.message  # the untracked .tmp file is only named in a warning
    assert build_snapshot(repo, allow_dirty=True).untracked == ["docs/.tmp-jobs.md.k2j4h1.tmp"]
    # Only the named paths: another change still makes the tree dirty, and exclusion also filters extras.
    (repo / "README.md").write_text("# changed\n")
    assert build_snapshot(repo, exclude=ledger, allow_dirty=True).dirty_files == ["README.md"]
    extra = build_snapshot(repo, exclude=ledger, extras=["docs/*.md"], allow_dirty=True)
    assert "docs/jobs.md" not in extra.files


RL_NEXUS_FILES = {**FILES, "rl_nexus/run.py": "print('run')\n", "rl_nexus/specs/x.yaml": "component: root/Root_Component\n"}


def test_rl_nexus_run_outputs_never_make_the_tree_dirty(make_repo):
    """A local `python run.py spec.yaml` leaves these in rl_nexus/ (Root_Component, hp_handler): never dirty."""
    repo = make_repo(RL_NEXUS_FILES)
    outputs = [f"rl_nexus/{n}" for n in ("repro_spec.yaml", "console.txt", "downloaded_hp_config.yaml",
                                          "uploaded_hp_config.yaml", "launched_job_spec.yaml")]
    for rel in outputs:
        (repo / rel).write_text("written by a run\n")
    snap = build_snapshot(repo, run_outputs=outputs)  # allow_dirty=False: raises if dirty
    assert not snap.dirty and snap.untracked == [] and not set(outputs) & set(names(snap))
    with pytest.raises(LauncherError, match="rl_nexus/repro_spec.yaml"):
        build_snapshot(repo)  # the same files anywhere else would be a runspec the user forgot to add


def test_other_untracked_files_warn_and_untracked_code_or_runspecs_refuse(make_repo):
    repo = make_repo(RL_NEXUS_FILES)
    (repo / "rl_nexus" / "notes.md").write_text("scratch\n")
    (repo / "rl_nexus" / "plot.png").write_bytes(b"\x89PNG")
    snap = build_snapshot(repo)
    assert not snap.dirty and snap.untracked == ["rl_nexus/notes.md", "rl_nexus/plot.png"]
    assert "rl_nexus/notes.md" not in names(snap)
    for forgotten in ("rl_nexus/specs/new.yaml", "rl_nexus/components/x/X/X.py", "requirements-gpu.txt"):
        (repo / forgotten).parent.mkdir(parents=True, exist_ok=True)
        (repo / forgotten).write_text("x: 1\n")
        with pytest.raises(LauncherError, match=forgotten.replace(".", r"\.")):
            build_snapshot(repo)
        (repo / forgotten).unlink()
