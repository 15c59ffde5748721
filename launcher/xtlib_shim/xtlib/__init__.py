"""The launcher's drop-in for XT's `xtlib`, for the runs the launcher starts (rl_nexus does
`from xtlib.run import Run as XTRun` whenever XT_RUN_NAME is set).

A real xtlib that the run's Python has installed is not shadowed: with LAUNCHER_XTLIB=auto (the default,
from `xtlib = "auto"` in [tool.launcher]) this module hands `import xtlib` over to it, with a note that its
metrics go to XT and not to `launcher runs`. `xtlib = "launcher"` makes the drop-in win always.
Standalone on purpose: it imports nothing of the launcher, whose package the run's Python may not have.
"""

import importlib.machinery
import importlib.util
import os
import sys

_SHIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _installed_xtlib():
    paths = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _SHIM_DIR]
    return importlib.machinery.PathFinder.find_spec("xtlib", paths)


if os.environ.get("LAUNCHER_XTLIB", "auto") == "auto":
    _spec = _installed_xtlib()
    if _spec is not None and _spec.loader is not None:
        sys.stderr.write(f"launcher: using the installed xtlib ({_spec.origin}); what it logs goes to XT, not to "
                         "`launcher runs` (set xtlib = \"launcher\" in [tool.launcher] to use the drop-in)\n")
        _real = importlib.util.module_from_spec(_spec)
        sys.modules[__name__] = _real  # the import statement returns what sys.modules holds after this runs
        _spec.loader.exec_module(_real)
