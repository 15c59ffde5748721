"""The launcher itself, shipped to Batch nodes as one resource file: `python3 launcher-<sha>.pyz JOB RUN`.

A node needs the agent (launcher.agent) and `launcher run`, whatever is installed there. The bundle is a
deterministic zip of this installed `launcher` package (no __pycache__) with a small __main__.py that unpacks it
once per node (into $AZ_BATCH_NODE_SHARED_DIR, atomically), puts it first on sys.path and PYTHONPATH (so the
run's own `python -m launcher run` uses the same code) and starts launcher.azure.node_agent. It is content
addressed (code/launcher-<sha256>.pyz), so an unchanged launcher is uploaded once. The node still needs Python
with the launcher's dependencies (pyyaml, jsonschema, fastjsonschema, rich, azure-storage-blob): the target's
`setup` commands install them (docs/azure.md).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from functools import lru_cache
from pathlib import Path

MAIN = '''\
"""Bootstrap of the runspec-launcher bundle on a Batch node (see launcher/azure/bundle.py)."""
import os, shutil, sys, tempfile, zipfile

pyz = os.path.abspath(sys.argv[0])
name = os.path.splitext(os.path.basename(pyz))[0]
base = os.environ.get("AZ_BATCH_NODE_SHARED_DIR") or os.path.dirname(pyz)
target = os.path.join(base, name)
if not os.path.isdir(os.path.join(target, "launcher")):
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + name + "-", dir=base)
    with zipfile.ZipFile(pyz) as zf:
        zf.extractall(tmp, [n for n in zf.namelist() if n.startswith("launcher/")])
    try:
        os.rename(tmp, target)
    except OSError:  # another task on this node unpacked it first
        shutil.rmtree(tmp, ignore_errors=True)
sys.path[:] = [target] + [p for p in sys.path if os.path.abspath(p) != pyz]
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [target, os.environ.get("PYTHONPATH")]))
from launcher.azure.node_agent import main
sys.exit(main(sys.argv[1:]))
'''

_DATE = (1980, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def build_bundle() -> tuple[bytes, str]:
    """(zip bytes, sha256) of the installed launcher package plus the bootstrap __main__.py."""
    import launcher

    root = Path(launcher.__file__).resolve().parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".pyo"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = [("__main__.py", MAIN.encode())]
        entries += [("launcher/" + p.relative_to(root).as_posix(), p.read_bytes()) for p in files]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.create_system = 3
            info.external_attr = (0o100644 & 0xFFFF) << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def bundle_key(sha: str) -> str:
    """The full sha256 is in the name: the task's command line checks the downloaded file against it."""
    return f"code/launcher-{sha}.pyz"


#: What a task runs before the bundle: the bundle's sha256 (from the task's command line, written by the
#: launcher) is checked against the downloaded file, so a bundle blob changed after upload never runs. It cannot
#: live inside the bundle: a poisoned bundle would skip its own check.
VERIFY_AND_RUN = (
    "import hashlib,runpy,sys\n"
    "want,pyz=sys.argv[1],sys.argv[2]\n"
    "got=hashlib.sha256(open(pyz,'rb').read()).hexdigest()\n"
    "if got!=want:\n"
    " sys.exit('launcher bundle '+pyz+' has sha256 '+got+', not '+want+': it was changed after upload; not running it')\n"
    "sys.argv=[pyz]+sys.argv[3:]\n"
    "runpy.run_path(pyz,run_name='__main__')\n")


def bundle_argv(python: str, pyz_name: str, sha: str, args: list[str]) -> list[str]:
    return [python, "-c", VERIFY_AND_RUN, sha, pyz_name, *args]


def upload_bundle(store) -> tuple[str, int]:
    """Put the bundle in the store unless it is there with these very bytes; returns (key, bytes uploaded)."""
    data, sha = build_bundle()
    key = bundle_key(sha)
    return key, store.put_if_absent(key, data)
