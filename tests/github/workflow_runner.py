"""A small, strict player of our GitHub Actions workflow files, for the rehearsal test.

It reads the workflow YAML and runs its jobs in order on this machine: `run:` steps through bash exactly as
written (with the step's evaluated `env:`), job and step `if:` conditions through an evaluator of GitHub's
expression language (the subset our workflows use: anything else raises, so the workflow cannot drift into
what this player does not understand), matrices from `fromJSON(...)`, outputs from $GITHUB_OUTPUT, and the
few actions we use, emulated:

- actions/checkout        git clone of the `origin` bare repository at the evaluated ref into `path`
- actions/setup-python    a fresh, empty virtual environment for the job, first on PATH (the test run's own
                          environment is never on PATH: a job has exactly what its own steps install)
- actions/upload-artifact / download-artifact   copies into / out of an artifacts folder

`run:` steps that install (`pip install`) run for real, in that job's virtual environment, against a local
wheelhouse (PIP_NO_INDEX, PIP_FIND_LINKS: the locked wheels and this checkout's launcher wheel) instead of the
package index. The environment an install builds is kept per install *input* (the step's script and env, and
the content of the files it installs from), and a later job with the same input gets that environment: the same
result as installing again, without the minute it would cost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gh_helpers import GIT_ENV, exclusive, read_outputs

# ---------------------------------------------------------------------------------------------------------
# expressions

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|&&|\|\||!|\(|\)|,|<=|>=|<|>)
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.(?:[A-Za-z_*][A-Za-z0-9_\-]*))*)
)""", re.X)


class ExpressionError(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot parse expression at {text[pos:]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Evaluator:
    """GitHub expression subset: literals, context paths (with `*`), ! == != && || ( ), and functions."""

    def __init__(self, contexts: dict, functions: dict) -> None:
        self.contexts = contexts
        self.functions = functions

    def evaluate(self, text: str):
        self.toks = _tokens(text)
        self.i = 0
        value = self._or()
        if self.i != len(self.toks):
            raise ExpressionError(f"trailing tokens in {text!r}")
        return value

    def _peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def _eat(self, value=None):
        tok = self._peek()
        if value is not None and tok[1] != value:
            raise ExpressionError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def _or(self):
        left = self._and()
        while self._peek()[1] == "||":
            self._eat()
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self):
        left = self._cmp()
        while self._peek()[1] == "&&":
            self._eat()
            right = self._cmp()
            left = right if truthy(left) else left
        return left

    def _cmp(self):
        left = self._unary()
        while self._peek()[1] in ("==", "!="):
            op = self._eat()[1]
            right = self._unary()
            eq = loose_equal(left, right)
            left = eq if op == "==" else not eq
        return left

    def _unary(self):
        if self._peek()[1] == "!":
            self._eat()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self):
        kind, value = self._eat()
        if value == "(":
            inner = self._or()
            self._eat(")")
            return inner
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "name":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self._peek()[1] == "(":
                self._eat("(")
                args = []
                while self._peek()[1] != ")":
                    args.append(self._or())
                    if self._peek()[1] == ",":
                        self._eat(",")
                self._eat(")")
                fn = self.functions.get(value.lower())
                if fn is None:
                    raise ExpressionError(f"function {value}() is not supported by the rehearsal player")
                return fn(*args)
            return self._lookup(value)
        raise ExpressionError(f"unexpected token {value!r}")

    def _lookup(self, path: str):
        parts = path.split(".")
        if parts[0] not in self.contexts:
            raise ExpressionError(f"unknown context {parts[0]!r} in {path!r}")
        values = [self.contexts[parts[0]]]
        star = False
        for part in parts[1:]:
            if part == "*":
                star = True
                values = [v for x in values if isinstance(x, dict) for v in x.values()]
                continue
            values = [x.get(part) if isinstance(x, dict) else None for x in values]
        return values if star else values[0]


def truthy(v) -> bool:
    return v not in (None, False, 0, "", 0.0)


def loose_equal(a, b) -> bool:
    # GitHub compares strings case-insensitively and coerces mixed types to numbers; our uses are simple
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, bool) or isinstance(b, bool):
        return truthy(a) == truthy(b) if (isinstance(a, bool) and isinstance(b, bool)) else str(a) == str(b)
    return a == b


_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value, ev: Evaluator):
    """A YAML value with ${{ }} parts: a lone expression keeps its type, mixed text becomes a string."""
    if not isinstance(value, str):
        return value
    m = _EXPR.fullmatch(value.strip())
    if m and "${{" not in m.group(1):  # one expression alone (not `${{ a }} ${{ b }}`)
        return ev.evaluate(m.group(1))
    return _EXPR.sub(lambda mm: to_text(ev.evaluate(mm.group(1))), value)


def to_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


# ---------------------------------------------------------------------------------------------------------
# the player

@dataclass
class StepRecord:
    name: str
    outcome: str  # success | failure | skipped
    stdout: str = ""
    stderr: str = ""
    run: str = ""


@dataclass
class JobRun:
    name: str
    result: str  # success | failure | skipped
    legs: list[dict] = field(default_factory=list)  # per matrix leg: {"matrix", "steps", "summary", "outputs"}
    outputs: dict = field(default_factory=dict)

    def steps(self) -> list[StepRecord]:
        return [s for leg in self.legs for s in leg["steps"]]

    def stdout(self) -> str:
        return "".join(s.stdout for s in self.steps())

    def summary(self) -> str:
        return "".join(leg["summary"] for leg in self.legs)


@dataclass
class WorkflowRun:
    jobs: dict[str, JobRun]

    def __getitem__(self, name: str) -> JobRun:
        return self.jobs[name]


class Player:
    def __init__(self, workflow: Path, *, origin: Path, root: Path, repository: str, env: dict[str, str],
                 wheelhouse: Path, venvs: Path, after_checkout=None, vars: dict | None = None) -> None:
        self.workflow = yaml.safe_load(workflow.read_text(encoding="utf-8"))
        self.origin = origin
        self.root = root
        self.repository = repository
        self.base_env = env
        self.wheelhouse = wheelhouse  # the wheels pip may install from (no index)
        self.venvs = venvs  # install input -> the environment it built (shared by the players of a session)
        self.vars = dict(vars or {})  # the repository's variables (`vars` context)
        self.after_checkout = after_checkout  # hook(path, ref): e.g. link the durable store into a payload
        self.runs = 0
        self.installs = 0  # installs really run (not answered from self.venvs)

    def play(self, event_name: str, payload: dict, *, inputs: dict, sha: str, ref: str,
             token: str = "") -> WorkflowRun:
        self.runs += 1
        base = self.root / f"run{self.runs}"
        artifacts = base / "artifacts"
        artifacts.mkdir(parents=True)
        event_path = base / "event.json"
        event_path.write_text(json.dumps(payload))
        triggers = self.workflow.get("on", self.workflow.get(True))
        call_inputs = (triggers.get("workflow_call") or {}).get("inputs") or {} if isinstance(triggers, dict) else {}
        full_inputs = {k: v.get("default") for k, v in call_inputs.items()}
        full_inputs.update(inputs)
        github = {"event_name": event_name, "event": payload, "repository": self.repository, "sha": sha,
                  "ref": ref, "ref_name": ref.rsplit("/", 1)[-1], "token": token, "workspace": "",
                  "run_id": str(self.runs)}
        results: dict[str, JobRun] = {}
        for name, job in self.workflow["jobs"].items():  # our jobs are listed in dependency order
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            needs_ctx = {n: {"result": results[n].result, "outputs": results[n].outputs} for n in needs}
            results[name] = self._job(name, job, base, artifacts, event_path, github, full_inputs, needs_ctx)
        return WorkflowRun(results)

    # -- jobs --------------------------------------------------------------------------------------------
    def _status_functions(self, needs_ctx: dict, failed_so_far: bool | None = None) -> dict:
        def success():
            if failed_so_far is not None:
                return not failed_so_far
            return all(n["result"] == "success" for n in needs_ctx.values())

        def failure():
            if failed_so_far is not None:
                return failed_so_far
            return any(n["result"] == "failure" for n in needs_ctx.values())

        return {"success": success, "failure": failure, "always": lambda: True, "cancelled": lambda: False}

    def _functions(self, workspace: Path | None, status: dict) -> dict:
        def from_json(text):
            return json.loads(text)

        def contains(haystack, needle):
            if isinstance(haystack, list):
                return any(loose_equal(x, needle) for x in haystack)
            return str(needle).lower() in str(haystack or "").lower()

        def hash_files(*patterns):
            assert workspace is not None
            files = [p for pat in patterns for p in sorted(workspace.glob(pat)) if p.is_file()]
            if not files:
                return ""
            import hashlib

            h = hashlib.sha256()
            for f in files:
                h.update(f.read_bytes())
            return h.hexdigest()

        def to_json(v):
            return json.dumps(v)

        return {"fromjson": from_json, "contains": contains, "hashfiles": hash_files, "tojson": to_json, **status}

    @staticmethod
    def _condition(text) -> str:
        if isinstance(text, bool):
            return "true" if text else "false"
        text = str(text).strip()
        m = _EXPR.fullmatch(text)
        text = m.group(1).strip() if m else text
        if not re.search(r"\b(always|cancelled|success|failure)\(", text):
            text = f"success() && ({text})"
        return text

    def _job(self, name, job, base, artifacts, event_path, github, inputs, needs_ctx) -> JobRun:
        contexts = {"github": github, "inputs": inputs, "needs": needs_ctx, "vars": self.vars, "secrets": {},
                    "matrix": {}, "strategy": {}, "runner": {}, "steps": {}, "env": {}}
        ev = Evaluator(contexts, self._functions(None, self._status_functions(needs_ctx)))
        if not truthy(ev.evaluate(self._condition(job.get("if", "success()")))):
            return JobRun(name, "skipped")
        strategy = job.get("strategy") or {}
        legs = [{}]
        if "matrix" in strategy:
            matrix = interpolate(strategy["matrix"], ev)
            legs = list(matrix.get("include") or [])
            if not legs:
                raise AssertionError(f"job {name}: empty matrix (GitHub fails the run on that)")
        run = JobRun(name, "success")
        for i, leg in enumerate(legs):
            workspace = base / f"{name}-{i}"
            workspace.mkdir(parents=True)
            record = self._leg(name, job, leg, workspace, artifacts, event_path, dict(github), inputs, needs_ctx)
            run.legs.append(record)
            if record["failed"]:
                run.result = "failure"
            run.outputs.update(record["outputs"])
        return run

    def _leg(self, name, job, leg, workspace, artifacts, event_path, github, inputs, needs_ctx) -> dict:
        github["workspace"] = str(workspace)
        steps_ctx: dict = {}
        contexts = {"github": github, "inputs": inputs, "needs": needs_ctx, "vars": self.vars, "secrets": {},
                    "matrix": leg, "runner": {"temp": str(workspace / "_temp")}, "steps": steps_ctx, "env": {}}
        self.python = None  # the job's virtual environment: made by setup-python, replaced by an install
        records: list[StepRecord] = []
        summary_parts: list[str] = []
        failed = False
        for idx, step in enumerate(job.get("steps") or []):
            ev = Evaluator(contexts, self._functions(workspace, self._status_functions(needs_ctx, failed)))
            label = step.get("name") or step.get("uses") or step.get("run", "")[:40]
            if not truthy(ev.evaluate(self._condition(step.get("if", "success()")))):
                records.append(StepRecord(label, "skipped"))
                if step.get("id"):
                    steps_ctx[step["id"]] = {"outcome": "skipped", "conclusion": "skipped", "outputs": {}}
                continue
            env = {k: to_text(interpolate(v, ev)) for k, v in (step.get("env") or {}).items()}
            with_ = {k: interpolate(v, ev) for k, v in (step.get("with") or {}).items()}
            outputs: dict = {}
            if "uses" in step:
                ok, out = self._action(step["uses"], with_, workspace, artifacts)
                rec = StepRecord(label, "success" if ok else "failure", stdout=out)
            else:
                rec, outputs, summary = self._run(label, step, env, workspace, event_path, github)
                summary_parts.append(summary)
                ok = rec.outcome == "success"
            records.append(rec)
            conclusion = rec.outcome if ok or not step.get("continue-on-error") else "success"
            if step.get("id"):
                steps_ctx[step["id"]] = {"outcome": rec.outcome, "conclusion": conclusion, "outputs": outputs}
            if not ok and not step.get("continue-on-error"):
                failed = True
        ev = Evaluator(contexts, self._functions(workspace, self._status_functions(needs_ctx, failed)))
        job_outputs = {k: to_text(interpolate(v, ev)) for k, v in (job.get("outputs") or {}).items()}
        return {"matrix": leg, "steps": records, "summary": "".join(summary_parts), "outputs": job_outputs,
                "failed": failed, "workspace": workspace}

    # -- steps -------------------------------------------------------------------------------------------
    def _action(self, uses: str, with_: dict, workspace: Path, artifacts: Path) -> tuple[bool, str]:
        action = uses.split("@")[0]
        if action == "actions/checkout":
            dest = workspace / (with_.get("path") or ".")
            ref = to_text(with_.get("ref")) or "HEAD"
            env = {**os.environ, **GIT_ENV}
            subprocess.run(["git", "clone", "-q", str(self.origin), str(dest)], check=True, env=env,
                           capture_output=True)
            subprocess.run(["git", "checkout", "-q", ref], cwd=dest, check=True, env=env, capture_output=True)
            assert with_.get("persist-credentials") is False
            if self.after_checkout:
                self.after_checkout(dest, ref)
            return True, f"checked out {ref} into {dest.name}\n"
        if action == "actions/setup-python":
            self.python = workspace / "_python"
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(self.python)], check=True,
                           capture_output=True)
            return True, f"fresh environment {self.python.name}\n"
        if action == "actions/upload-artifact":
            src = workspace / with_["path"]
            if not src.exists():
                return True, "no files to upload\n"
            dest = artifacts / to_text(with_["name"])
            assert not dest.exists(), f"artifact {dest.name} uploaded twice"
            shutil.copytree(src, dest)
            return True, f"uploaded {dest.name}\n"
        if action == "actions/download-artifact":
            src = artifacts / to_text(with_["name"])
            if not src.exists():
                return False, f"artifact {src.name} not found\n"
            shutil.copytree(src, workspace / with_["path"], dirs_exist_ok=True)
            return True, f"downloaded {src.name}\n"
        raise AssertionError(f"the rehearsal player does not know the action {uses}")

    def _install_key(self, script: str, env: dict, workspace: Path) -> str:
        """What an install step's result depends on: its script, its env, and the content of what it installs
        (the trusted checkout's lock file, package metadata and code; files named in env values)."""
        import hashlib

        h = hashlib.sha256(script.encode())
        h.update(json.dumps(env, sort_keys=True).encode())
        trusted = workspace / "trusted"
        if (trusted / ".git").exists():
            for part in ("requirements", "launcher"):
                h.update(subprocess.run(["git", "rev-parse", f"HEAD:{part}"], cwd=trusted, capture_output=True,
                                        text=True).stdout.encode())
            h.update(package_tables(subprocess.run(["git", "show", "HEAD:pyproject.toml"], cwd=trusted,
                                                   capture_output=True, text=True).stdout).encode())
        for value in env.values():
            if value and Path(value).is_file():
                h.update(Path(value).read_bytes())
        return h.hexdigest()[:24]

    def _install(self, label, script, env, workspace, event_path, github):
        """An install step, run for real in a new environment, or that environment again for the same input."""
        key = self._install_key(script, env, workspace)
        # the environments are shared by the test workers of a run: one builds, the others wait and reuse it
        with exclusive(self.venvs / f"{key}.lock"):
            return self._install_once(key, label, script, env, workspace, event_path, github)

    def _install_once(self, key, label, script, env, workspace, event_path, github):
        venv = self.venvs / key
        done = venv / ".installed"
        if done.exists():
            self.python = venv
            return StepRecord(label, "success", f"(the environment this install built before: {key})\n", "",
                              script), {}, ""
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        self.python = venv
        self.installs += 1
        pip_env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(self.wheelhouse), "PIP_CONFIG_FILE": os.devnull,
                   "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
        rec, outputs, summary = self._shell(label, script, {**env, **pip_env}, workspace, event_path, github, step={})
        if rec.outcome == "success":
            done.write_text(key)
        return rec, outputs, summary

    def _run(self, label, step, env, workspace, event_path, github):
        script = step["run"]
        if "pip install" in script:
            return self._install(label, script, env, workspace, event_path, github)
        return self._shell(label, script, env, workspace, event_path, github, step)

    def _shell(self, label, script, env, workspace, event_path, github, step):
        cwd = workspace / step.get("working-directory", ".")
        files = {}
        self.steps_run = getattr(self, "steps_run", 0) + 1
        for var in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"):
            p = workspace / "_runner" / f"{var.lower()}-{self.steps_run}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("")
            files[var] = p
        full_env = {
            **self.base_env,
            "GITHUB_ACTIONS": "true", "CI": "true",
            "GITHUB_WORKSPACE": str(workspace), "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_EVENT_NAME": github["event_name"], "GITHUB_REPOSITORY": self.repository,
            "GITHUB_SHA": github["sha"], "GITHUB_REF": github["ref"], "GITHUB_RUN_ID": github["run_id"],
            "RUNNER_TEMP": str(workspace / "_temp"),
            **{k: str(v) for k, v in files.items()},
            **env,
        }
        if self.python is not None:  # the job's own environment (setup-python), first on PATH as on a runner
            full_env["PATH"] = str(self.python / "bin") + os.pathsep + full_env.get("PATH", "")
            full_env["VIRTUAL_ENV"] = str(self.python)
        (workspace / "_temp").mkdir(exist_ok=True)
        # GitHub's `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                              env=full_env, capture_output=True, text=True, timeout=600)
        rec = StepRecord(label, "success" if proc.returncode == 0 else "failure", proc.stdout, proc.stderr, script)
        return rec, read_outputs(files["GITHUB_OUTPUT"]), files["GITHUB_STEP_SUMMARY"].read_text()


def package_tables(pyproject: str) -> str:
    """What of a pyproject.toml a `pip install` reads: all but the [tool.launcher] tables (the experiments' targets,
    which name a fresh container in every test, so that a key on the whole file would never match twice)."""
    from launcher import tomlcompat

    try:
        data = tomlcompat.loads(pyproject)
    except ValueError:
        return pyproject
    data.get("tool", {}).pop("launcher", None)
    return json.dumps(data, sort_keys=True)


def launcher_env(tmp: Path) -> dict[str, str]:
    """The runner's environment: this machine's, less GitHub's and the launcher's variables, and less the test
    run's own Python environment (its bin folder off PATH, no PYTHONPATH, no VIRTUAL_ENV): a job finds `launcher`
    only if its own install step put it into the job's environment."""
    own = {str(Path(sys.executable).parent), str(Path(sys.prefix) / "bin")}
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "RUNNER_", "LAUNCHER_", "PIP_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    path = os.pathsep.join(p for p in keep.get("PATH", "").split(os.pathsep) if p and p not in own)
    return {**keep, "PATH": path, "HOME": str(tmp / "home")}
