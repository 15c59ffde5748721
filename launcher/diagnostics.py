"""The one currency of user-facing problems: a Diagnostic points at file:line:col and says how to fix it.

Stages return lists of diagnostics; reporters render them. A stage never prints by itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"
INFO = "info"


@dataclass(frozen=True)
class Diagnostic:
    code: str  # stable, e.g. "RS101"; listed in the README
    severity: str  # error | warning | info
    message: str  # what is wrong, one line
    file: str = ""  # as the user named it (relative paths stay relative)
    line: int = 0  # 1-based; 0 = the file as a whole
    col: int = 0  # 1-based; 0 = the line as a whole
    hint: str = ""  # how to fix it ("did you mean ...")
    path: str = ""  # JSON-ish path of the node, e.g. $.processing_stages[0].processing_stage.max_iterations

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def sort_key(self) -> tuple:
        return (self.file, self.line, self.col, self.code)


class LauncherError(Exception):
    """An expected failure (bad input, missing config, refused launch): printed without a traceback.

    `exit_code` 1 = invalid input or failed operation, 2 = usage error.
    """

    def __init__(self, message: str, *, hint: str = "", exit_code: int = 1,
                 diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
        self.diagnostics = list(diagnostics or [])


class UsageError(LauncherError):
    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint, exit_code=2)


def did_you_mean(word: str, choices, *, n: int = 1) -> str:
    """' (did you mean "x"?)'-style hint text, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


#: top-level module of an optional dependency -> the extra that installs it
OPTIONAL_EXTRAS = {"azure": "azure", "tensorboardX": "tensorboard", "matplotlib": "plot"}


def missing_extra(exc: BaseException) -> LauncherError | None:
    """A ModuleNotFoundError of an optional dependency, as the error a user can act on; None for anything else.

    The SDKs are imported lazily in many places; mapping the error here, once, means every first import site
    gives the install hint (not an "internal error")."""
    name = getattr(exc, "name", None) or ""
    if not isinstance(exc, ModuleNotFoundError) or name.split(".")[0] not in OPTIONAL_EXTRAS:
        return None
    extra = OPTIONAL_EXTRAS[name.split(".")[0]]
    return LauncherError(f"the '{extra}' extra of the launcher is not installed here (no module named '{name}')",
                         hint=f"install it: pip install 'runspec-launcher[{extra}]' (in a workflow, the install "
                              "step installs it; see docs/github.md)")
