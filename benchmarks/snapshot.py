"""How fast is a code snapshot? Builds a throwaway git repository of 5,000 files and snapshots it.

Prints figures (no pass/fail): median seconds for build_snapshot with the detect-secrets content scan, next to the
same snapshot without it (the baseline, measured in the same run), and an upload to a folder store.
Goals: the scan costs at most 1.5x the snapshot without it; a 5,000-file tree snapshots in about a second.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import secrets  # noqa: E402
from launcher.package import build_snapshot, upload_snapshot  # noqa: E402
from launcher.store.local import LocalStore  # noqa: E402

FILES = 5000
OLD_PRIVATE_KEY_RE = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{32,}")
REPEATS = 5


def make_repo(root: Path, files: int) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.invalid")
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(root)], check=True, env=env)
    for i in range(files):
        path = root / f"pkg{i % 20}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        # ~2 KB of source-like text per file
        path.write_text("".join(f"def f_{i}_{k}(x):\n    return x * {k} + {i}\n\n" for k in range(60)))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "--quiet", "-m", "bench"], cwd=root, check=True, env=env)


def median_time(fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="snapshot-bench-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, FILES)
        seconds, snap = median_time(lambda: build_snapshot(repo))
        scan = secrets.SecretScanner.scan
        try:
            # Before issue 13 (the baseline): one private-key regular expression over every file's bytes.
            secrets.SecretScanner.scan = lambda self, files: [p for p, (_f, data) in files.items()
                                                              if OLD_PRIVATE_KEY_RE.search(data)]
            baseline, _ = median_time(lambda: build_snapshot(repo))
            secrets.SecretScanner.scan = lambda self, files: []  # no content scan at all
            bare, _ = median_time(lambda: build_snapshot(repo))
        finally:
            secrets.SecretScanner.scan = scan
        store = LocalStore(Path(tmp) / "store")
        start = time.perf_counter()
        _key, sent = upload_snapshot(store, snap)
        first_upload = time.perf_counter() - start
        start = time.perf_counter()
        _key, again = upload_snapshot(store, snap)
        second_upload = time.perf_counter() - start
    print(f"snapshot of {snap.file_count} files ({snap.byte_count / 1e6:.1f} MB): "
          f"median {seconds * 1000:.0f} ms over {REPEATS} runs with detect-secrets; {baseline * 1000:.0f} ms with "
          f"the one private-key pattern of before: {seconds / baseline:.2f}x (goal: at most 1.5x); "
          f"{bare * 1000:.0f} ms with no content scan")
    print(f"zip size {snap.zip_size / 1e6:.2f} MB, sha256 {snap.sha256[:16]}")
    print(f"upload to a folder store: {sent} bytes in {first_upload * 1000:.1f} ms; "
          f"again (content-addressed): {again} bytes in {second_upload * 1000:.1f} ms")


if __name__ == "__main__":
    main()
