"""The code snapshot of a launch: the files git tracks (plus configured extras) as a deterministic zip.

Deterministic = same files, same bytes, same sha256: paths sorted, timestamps 1980-01-01, permissions 0644/0755,
deflate level 6, no extra fields. The sha256 names the upload (`code/<sha256>.zip`), so relaunching unchanged code
uploads nothing. Files that look like secrets are never packed, even when git tracks them: the launch stops and
names them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import stat
import weakref
import zipfile
from pathlib import Path, PurePosixPath

from launcher import gitutil
from launcher.diagnostics import LauncherError

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 6
CODE_PREFIX = "code/"

#: File-name patterns (matched against the base name, case-insensitively) that hold secrets often enough that
#: we refuse to upload them. Checked for tracked files and extras alike.
SECRET_NAME_PATTERNS = (
    ".env", ".env.*", "*.env",
    "*.pem", "*.key", "*.pfx", "*.p12", "*.jks", "*.keystore", "*.kdbx",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    "credentials*.json", "*.secret", "*.secrets", "secrets.json", "secrets.yaml", "secrets.yml", "secrets.toml",
    ".netrc", "_netrc", ".pypirc", ".git-credentials", ".htpasswd",
    "*.tfstate", "*.tfstate.backup", "*.publishsettings",
)
#: Templates that document which variables to set; they carry no values by convention.
SECRET_NAME_EXCEPTIONS = (".env.example", ".env.sample", ".env.template", ".env.dist", "*.env.example")
#: Folder names whose whole content is credentials (cloud CLIs' and ssh/gpg's homes).
SECRET_DIRS = (".azure", ".aws", ".ssh", ".gnupg", ".gcloud", ".kube", ".docker")

#: Untracked paths that never make a tree dirty: the launcher's own store folder.
IGNORED_UNTRACKED = (".launcher/",)
#: What rl_nexus and XT write into the working dir of every local run: never code, never dirty when untracked.
#: rl_nexus's Root_Component writes repro_spec.yaml and console.txt there; hp_handler reads
#: downloaded_hp_config.yaml and writes uploaded_hp_config.yaml; Root_Component.launch_job copies the runspec to
#: launched_job_spec.yaml (components/root/Root_Component.py, utils/hp_handler.py of the public fork).
RUN_OUTPUT_NAMES = ("repro_spec.yaml", "console.txt", "downloaded_hp_config.yaml", "uploaded_hp_config.yaml",
                    "launched_job_spec.yaml")
#: Untracked files with these endings look like code or runspecs that the user forgot to `git add`: a launch
#: without them would run other code than the user tested, so they still refuse.
CODE_SUFFIXES = (".py", ".pyx", ".pyi", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", ".c", ".cc", ".cpp", ".h",
                 ".hpp", ".cu", ".ipynb")
CODE_NAMES = ("requirements*.txt", "Makefile", "Dockerfile")


class Snapshot:
    """What build_snapshot packed. The zip is a temporary file (zip_path, removed when the snapshot is dropped),
    so that memory does not grow with the repository; zip_bytes reads it (small snapshots and tests)."""

    def __init__(self, zip_bytes: bytes | None = None, sha256: str = "", file_count: int = 0, byte_count: int = 0,
                 commit: str = "", dirty: bool = False, dirty_files: list[str] | None = None, *,
                 zip_path: Path | None = None, files: list[str] | None = None, untracked: list[str] | None = None,
                 skipped: list[str] | None = None) -> None:
        self._zip_data = zip_bytes
        self.zip_path = zip_path
        self.sha256 = sha256
        self.file_count = file_count
        self.byte_count = byte_count  # total size of the packed files, uncompressed
        self.commit = commit  # HEAD's full sha ('' in a repository without commits)
        self.dirty = dirty
        self.dirty_files = list(dirty_files or [])
        self.files = list(files or [])
        self.untracked = list(untracked or [])  # untracked files that are neither code nor packed
        self.skipped = list(skipped or [])  # tracked entries that are not files (submodules, deleted)
        if zip_path is not None:
            weakref.finalize(self, _remove, Path(zip_path))

    def __repr__(self) -> str:
        return f"Snapshot(sha256={self.sha256!r}, file_count={self.file_count}, commit={self.commit!r})"

    @property
    def key(self) -> str:
        return f"{CODE_PREFIX}{self.sha256}.zip"

    @property
    def zip_bytes(self) -> bytes:
        if self._zip_data is None:
            return Path(self.zip_path).read_bytes()
        return self._zip_data

    @property
    def zip_size(self) -> int:
        return len(self._zip_data) if self._zip_data is not None else Path(self.zip_path).stat().st_size

    def to_dict(self) -> dict:
        return {"key": self.key, "sha256": self.sha256, "file_count": self.file_count, "byte_count": self.byte_count,
                "zip_size": self.zip_size, "commit": self.commit, "dirty": self.dirty,
                "dirty_files": list(self.dirty_files), "skipped": list(self.skipped)}


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def secret_reason(rel_path: str) -> str:
    """Why rel_path looks like a secret by its name ('' when it does not)."""
    parts = PurePosixPath(rel_path).parts
    if any(part.lower() == ".git" for part in parts):
        # git's own folder (or a file named .git): config with remote URLs and their tokens, hooks, credentials
        return "it is inside git's own .git folder"
    for part in parts[:-1]:
        if part.lower() in SECRET_DIRS:
            return f"it is inside a {part}/ folder"
    name = parts[-1].lower() if parts else ""
    if any(fnmatch.fnmatchcase(name, pat) for pat in SECRET_NAME_EXCEPTIONS):
        return ""
    for pat in SECRET_NAME_PATTERNS:
        if fnmatch.fnmatchcase(name, pat):
            return f"its name matches {pat}"
    return ""


def _tracked_entries(project_dir: Path) -> dict[str, str]:
    """path (relative to project_dir) -> git mode ('100644', '100755', '120000', '160000') of every index entry."""
    out = gitutil.git(["ls-files", "-z", "--stage", "--", "."], project_dir, text=False).stdout
    entries: dict[str, str] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode = meta.split(b" ", 1)[0].decode()
        entries[path.decode("utf-8", "surrogateescape")] = mode  # merge conflicts list a path per stage: keep one
    return entries


def is_excluded(rel_path: str, exclude: tuple[str, ...]) -> bool:
    """True when rel_path (relative to the project, '/'-separated) matches one of the exclude globs."""
    return any(fnmatch.fnmatchcase(rel_path, pat) for pat in exclude)


def looks_like_code(rel_path: str) -> bool:
    p = PurePosixPath(rel_path)
    return p.suffix.lower() in CODE_SUFFIXES or any(fnmatch.fnmatchcase(p.name, pat) for pat in CODE_NAMES)


def _dirty_files(project_dir: Path, exclude: tuple[str, ...] = (),
                 run_outputs: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(dirty, untracked): changed tracked files and untracked files that look like code or runspecs, as
    `git status` shows them under project_dir; and the other untracked files (shown in a warning, not packed).
    Excluded paths and untracked run outputs (project-relative paths) are neither."""
    out = gitutil.git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."],
                      project_dir, text=False).stdout
    # Porcelain paths are relative to the repository root; report them relative to project_dir.
    prefix = gitutil.git_out(["rev-parse", "--show-prefix"], project_dir)
    records = out.split(b"\0")
    files: list[str] = []
    other: list[str] = []
    i = 0
    while i < len(records):
        rec = records[i]
        i += 1
        if len(rec) < 4:
            continue
        xy, path = rec[:2].decode(), rec[3:].decode("utf-8", "surrogateescape")
        if "R" in xy or "C" in xy:
            i += 1  # -z puts the rename's source path in the next record
        if prefix and path.startswith(prefix):
            path = path[len(prefix):]
        if xy == "??" and path.startswith(IGNORED_UNTRACKED):
            continue
        if is_excluded(path, exclude):
            continue
        if xy == "??" and path in run_outputs:
            continue
        if xy == "??" and not looks_like_code(path):
            other.append(path)
            continue
        files.append(path)
    return sorted(set(files)), sorted(set(other))


def _expand_extras(project_dir: Path, patterns: list[str]) -> list[str]:
    found: set[str] = set()
    root = project_dir.resolve()
    for pattern in patterns:
        if not pattern or PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
            raise LauncherError(f"snapshot extra {pattern!r} must be a relative glob inside the project",
                                hint="for example 'data/*.csv' or 'assets/**/*.bin'")
        if any(part.lower() == ".git" for part in PurePosixPath(pattern).parts):
            raise LauncherError(f"snapshot extra {pattern!r} names git's own .git folder, which is never packed",
                                hint="its config holds remote URLs (with their tokens) and its hooks run code; "
                                     "remove the pattern from code_extras")
        for p in project_dir.glob(pattern):
            rel = p.relative_to(project_dir)
            if any(part.lower() == ".git" for part in rel.parts):
                continue  # a wildcard that walked into .git/: never packed
            if p.is_file() and p.resolve().is_relative_to(root):
                found.add(p.relative_to(project_dir).as_posix())
    return sorted(found)


def _zip_info(name: str, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.create_system = 3  # unix, so that external_attr carries the permission bits
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build_snapshot(project_dir: str | Path, *, extras: list[str] | tuple[str, ...] = (),
                   allow_dirty: bool = False, exclude: list[str] | tuple[str, ...] = (),
                   run_outputs: list[str] | tuple[str, ...] = ()) -> Snapshot:
    """Pack the tracked files of project_dir (content from the working tree) and the extras globs.

    `exclude`: globs of project-relative paths that are neither packed nor counted as changes, e.g. the
    launcher's own output (the jobs.md ledger and its temp files): writing them must change neither the
    code's sha256 nor whether the tree is clean."""
    project_dir = Path(project_dir)
    exclude = tuple(exclude)
    gitutil.repo_root(project_dir)  # a clear error outside a repository
    entries = {p: m for p, m in _tracked_entries(project_dir).items() if not is_excluded(p, exclude)}
    dirty, untracked = _dirty_files(project_dir, exclude, tuple(run_outputs))
    if dirty and not allow_dirty:
        shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        raise LauncherError(f"the working tree has uncommitted changes (or untracked code or runspecs): {shown}",
                            hint="commit (or git-ignore) them so the job runs code that a commit names, "
                                 "or pass --allow-dirty to launch anyway (the job records the dirty files)")

    files: dict[str, bool] = {}  # path -> executable
    skipped: list[str] = []
    secrets: list[str] = []
    root = project_dir.resolve()
    for path, mode in entries.items():
        full = project_dir / path
        if mode == "160000" or not full.is_file():  # submodule, deleted in the working tree, symlink to a folder
            skipped.append(path)
            continue
        if mode == "120000":  # symlink to a file: pack the content, zip symlinks do not survive extraction
            target = full.resolve()
            # A link out of the project could pull the runner's credentials into the upload (a PR can add one).
            if not target.is_relative_to(root):
                secrets.append(f"{path} (a symlink that points outside the project)")
                continue
            if reason := secret_reason(target.relative_to(root).as_posix()):
                secrets.append(f"{path} (it links to a file whose name looks secret: {reason})")
                continue
            files[path] = bool(full.stat().st_mode & stat.S_IXUSR)
        else:
            files[path] = mode == "100755"
    for path in _expand_extras(project_dir, list(extras)):
        if path not in files and not is_excluded(path, exclude):
            real = (project_dir / path).resolve().relative_to(root).as_posix()
            if real != path and (reason := secret_reason(real)):
                secrets.append(f"{path} (it is a link to {real}: {reason})")
                continue
            files[path] = bool((project_dir / path).stat().st_mode & stat.S_IXUSR)

    secrets += [f"{p} ({reason})" for p in sorted(files) if (reason := secret_reason(p))]
    if secrets:  # a refusal by name says enough; the content scan is for what names do not show
        _refuse(secrets)
    zip_path, sha256, byte_count, found = _pack(project_dir, files)
    if found:
        _refuse(found)
    return Snapshot(zip_path=zip_path, sha256=sha256, file_count=len(files), byte_count=byte_count,
                    commit=gitutil.head_commit(project_dir), dirty=bool(dirty), dirty_files=dirty,
                    files=sorted(files), skipped=sorted(skipped),
                    untracked=[p for p in untracked if p not in files])


def _refuse(secrets: list[str]) -> None:
    raise LauncherError("refusing to upload files that look like secrets: " + "; ".join(sorted(secrets)),
                        hint="remove them from git (`git rm --cached FILE`, then add them to .gitignore) and "
                             "pass secrets as environment variables or a key vault. A file that holds no "
                             "secret: rename it (e.g. `.env.example`); a finding that is no secret: mark the "
                             "line `# pragma: allowlist secret`, or list it in a detect-secrets baseline "
                             "(`detect-secrets scan > .secrets.baseline`, see docs/jobs.md)")


#: Files are read, scanned and zipped in batches of about this many bytes, so that memory stays flat however
#: large the repository (the secret screen's views of a batch cost a few times its size).
BATCH_BYTES = 4 << 20
#: A larger file is zipped in chunks and goes to detect-secrets' own line-by-line scan, never into memory whole.
LARGE_FILE = 8 << 20
CHUNK = 1 << 20


class _HashedFile:
    """The zip's temporary file, hashed as it grows. zipfile seeks back to complete each entry's local header, so
    the hash takes the bytes up to where zipfile stands once an entry is complete (read back from the page cache,
    a few KB at a time), never bytes that may still change."""

    def __init__(self, fh) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.hashed = 0

    def catch_up(self) -> None:
        self.fh.flush()
        end = self.fh.tell()
        fd = self.fh.fileno()
        while self.hashed < end:
            chunk = os.pread(fd, min(CHUNK, end - self.hashed), self.hashed)
            if not chunk:
                break
            self.sha.update(chunk)
            self.hashed += len(chunk)


def _pack(project_dir: Path, files: dict[str, bool]) -> tuple[Path | None, str, int, list[str]]:
    """Zip files (path -> executable) in sorted order into a temporary file, scanning their content for secrets
    batch by batch on the way; returns (zip path, its sha256, bytes packed, secret findings). With findings the
    zip is removed (nothing half-written stays) and the path is None."""
    import tempfile

    from launcher.secrets import SecretScanner

    scanner = SecretScanner(project_dir)
    findings: list[str] = []
    fd, name = tempfile.mkstemp(prefix="launcher-snapshot-", suffix=".zip")
    zip_path = Path(name)
    byte_count = 0
    try:
        with os.fdopen(fd, "w+b") as fh:
            hashed = _HashedFile(fh)
            with zipfile.ZipFile(fh, "w") as zf:
                batch: dict[str, tuple[Path, bytes | None]] = {}
                size = 0

                def flush() -> None:
                    nonlocal size
                    found = scanner.scan(batch)
                    findings.extend(f"{f.path} (line {f.line}: {f.kind})" for f in found)
                    if not findings:  # after a finding nothing is uploaded: only the scan goes on, for the list
                        for path, (full, data) in batch.items():
                            _write_entry(zf, path, files[path], full, data)
                        hashed.catch_up()
                    batch.clear()
                    size = 0

                for path in sorted(files):
                    full = project_dir / path
                    length = full.stat().st_size
                    data = full.read_bytes() if length <= LARGE_FILE else None
                    byte_count += len(data) if data is not None else length
                    batch[path] = (full, data)
                    size += len(data) if data is not None else CHUNK
                    if size >= BATCH_BYTES:
                        flush()
                flush()
            hashed.catch_up()  # the central directory
    except BaseException:
        zip_path.unlink(missing_ok=True)
        raise
    if findings:
        zip_path.unlink(missing_ok=True)
        return None, "", byte_count, findings
    return zip_path, hashed.sha.hexdigest(), byte_count, findings


def _write_entry(zf: zipfile.ZipFile, path: str, executable: bool, full: Path, data: bytes | None) -> None:
    info = _zip_info(path, executable)
    if data is not None:
        zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
        return
    # The same entry writestr would make (size known up front, same compressor), fed in chunks.
    info.file_size = full.stat().st_size
    info._compresslevel = COMPRESS_LEVEL
    with open(full, "rb") as src, zf.open(info, "w") as dest:
        while chunk := src.read(CHUNK):
            dest.write(chunk)


def upload_snapshot(store, snapshot: Snapshot) -> tuple[str, int]:
    """Put the zip at code/<sha256>.zip unless it is already there with exactly this content (a stored zip that
    was changed after its upload is replaced, never trusted); returns (key, bytes uploaded). A file-backed
    snapshot is sent from its file and the stored one hashed in a stream, so memory stays flat."""
    if snapshot.zip_path is None:
        return snapshot.key, store.put_if_absent(snapshot.key, snapshot.zip_bytes)
    if store.exists(snapshot.key) and stored_sha256(store, snapshot.key) == snapshot.sha256:
        return snapshot.key, 0
    store.put_file(snapshot.key, snapshot.zip_path)
    return snapshot.key, snapshot.zip_size


def file_sha256(path: str | Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def stored_sha256(store, key: str) -> str | None:
    """The sha256 of what the store holds at key (None when nothing), fetched to a temporary file."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="launcher-code-") as tmp:
        dest = Path(tmp) / "code.zip"
        return file_sha256(dest) if store.get_file(key, dest) else None


def extract_snapshot(zip_source: bytes | str | Path, dest: str | Path) -> list[str]:
    """Unpack a snapshot (its bytes, or the path of the zip) into dest (the agent's side), restoring the
    executable bit; returns the paths. Entries are copied in chunks: memory does not grow with file sizes."""
    import shutil

    dest = Path(dest)
    root = dest.resolve()
    names: list[str] = []
    source = io.BytesIO(zip_source) if isinstance(zip_source, (bytes, bytearray)) else zip_source
    made: set[Path] = set()
    with zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(root) or info.is_dir():  # never write outside dest
                continue
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            if (info.external_attr >> 16) & 0o111:
                os.chmod(target, 0o755)
            names.append(info.filename)
    return names
