"""The settings of an `azure-batch` target, read from [tool.launcher.targets.<name>] and checked in one pass.

    [tool.launcher.targets.azb-cpu]
    backend = "azure-batch"
    batch_endpoint = "${AZURE_BATCH_ENDPOINT}"        # https://<account>.<region>.batch.azure.com
    storage_account_url = "${AZURE_STORAGE_ACCOUNT_URL}"  # https://<account>.blob.core.windows.net
    container = "launcher"
    vm_size = "Standard_D2s_v3"
    image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }
    node_agent_sku = "batch.node.ubuntu 22.04"
    requirements = "requirements.txt"                 # installed by the node's start task into a venv
    setup = ["apt-get install -y --no-install-recommends libgl1"]   # extra commands, run as root before that
    max_wall_clock = "12h"
    max_retries = 2
    price_per_node_hour = { dedicated = 0.096, spot = 0.019 }

A string value may be "${NAME}" (or "$NAME"): it is read from the environment, so endpoints and identities
need not be in the repo. Only non-secret names expand (ENV_ALLOWED, plus the target's `env_allow`), and a name
that looks like a credential (TOKEN, SECRET, KEY, PASSWORD, ...; ACTIONS_*, GITHUB_*) never does: a setting
ends up in batch.json and in task definitions, which many can read. Secrets never are in the config: Shared Key
(tests only) names the *variable* holding the key.

Trusted pins (the launch job sets them from repository variables, not from the checked-out pyproject.toml):
LAUNCHER_<TARGET>_BATCH_ENDPOINT, _STORAGE_ACCOUNT_URL, _CONTAINER and _AUTH (target name upper-cased,
'-' -> '_') replace those settings whatever the file says, and LAUNCHER_MAX_WALL_CLOCK is an upper bound of
max_wall_clock. With Entra ID auth, max_wall_clock (+1 h margin) must fit in the 7 days a user delegation key
can live.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlparse

from launcher.diagnostics import ERROR, Diagnostic, LauncherError, did_you_mean

AUTH_MODES = ("auto", "default", "github-oidc", "shared-key")
#: price_per_node_hour is in US dollars (Azure's list prices); the estimate says so.
CURRENCY = "USD"
LAUNCHER_SOURCES = ("bundle", "installed")
#: Read from the environment when the target does not name them.
DEFAULT_ENV = {"batch_endpoint": "AZURE_BATCH_ENDPOINT", "storage_account_url": "AZURE_STORAGE_ACCOUNT_URL"}
KEYS = ("backend", "description", "batch_endpoint", "batch_account", "storage_account_url", "container", "vm_size",
        "image", "image_id", "node_agent_sku", "setup", "max_wall_clock", "max_retries", "price_per_node_hour",
        "auth", "batch_key_env", "storage_key_env", "python", "launcher_source", "submit_concurrency",
        "mirror_interval", "pool_prefix", "env_allow", "requirements", "datastore")
#: Settings that LAUNCHER_<TARGET>_<KEY> (override_env) replaces, whatever pyproject.toml says: a workflow pins
#: where its credential goes from trusted configuration, not from the checked-out (possibly PR) pyproject.toml.
PINNABLE = ("batch_endpoint", "storage_account_url", "container", "auth")
#: A trusted upper bound of max_wall_clock (e.g. "2d"), set by the launch workflow.
MAX_WALL_CLOCK_ENV = "LAUNCHER_MAX_WALL_CLOCK"
#: Names that "${NAME}" may expand without the target's env_allow: endpoints and identities, none of them secret.
ENV_ALLOWED = ("AZURE_BATCH_ENDPOINT", "AZURE_BATCH_ACCOUNT", "AZURE_STORAGE_ACCOUNT_URL", "AZURE_STORAGE_ACCOUNT",
               "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP")
#: Names that never expand, whatever env_allow says: they hold (or look like they hold) credentials.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|KEY|CREDENTIAL|SAS|CONNECTION|CERT|PRIVATE|SIG|AUTH|COOKIE"
                          r"|^ACTIONS_|^GITHUB_|^RUNNER_", re.IGNORECASE)
#: Microsoft: a user delegation key is valid for at most 7 days from the request
#: (learn.microsoft.com/rest/api/storageservices/get-user-delegation-key), and every SAS it signs with it.
USER_DELEGATION_MAX = timedelta(days=7)
SAS_MARGIN = timedelta(hours=1)
_IMAGE_KEYS = ("publisher", "offer", "sku", "version")
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$|^\$([A-Za-z_][A-Za-z0-9_]*)$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_CONTAINER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 60}  # a bare number is minutes


@dataclass(frozen=True)
class AzureSettings:
    target: str
    batch_endpoint: str
    batch_account: str
    storage_account_url: str
    storage_account: str
    container: str
    vm_size: str
    image: dict  # {"publisher", "offer", "sku", "version"} or {"virtual_machine_image_id": ...}
    node_agent_sku: str
    setup: tuple[str, ...] = ()
    max_wall_clock: timedelta = timedelta(hours=24)
    max_retries: int = 2
    price_dedicated: float | None = None
    price_spot: float | None = None
    auth: str = "auto"
    batch_key_env: str = ""
    storage_key_env: str = ""
    python: str = "python3"
    launcher_source: str = "bundle"
    submit_concurrency: int = 8
    mirror_interval: float = 3.0
    pool_prefix: str = "launcher"
    #: the project's requirements for the node's venv: a file relative to the project root, or a list of lines
    requirements: object = "requirements.txt"
    #: True: the start task builds the launcher's venv and tasks use it (python not set); False: `python` is an
    #: interpreter that has the launcher's packages already (a custom image)
    node_venv: bool = True
    #: {"container": ..., "prefix": ...}: mounted on every node; $datastore / XT_DATA_DIR point into it
    datastore: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def container_url(self) -> str:
        return f"{self.storage_account_url.rstrip('/')}/{self.container}"

    def price_per_node_hour(self, low_priority: bool) -> float | None:
        return self.price_spot if low_priority else self.price_dedicated


def parse_duration(value) -> timedelta:
    """'90m', '12h', '2d', '3600s', or a number of minutes."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        seconds = float(value) * 60
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(value)
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(value)
    return timedelta(seconds=seconds)


def env_ref(value) -> str | None:
    """The NAME of a '${NAME}' / '$NAME' value, else None."""
    if not isinstance(value, str):
        return None
    m = _ENV_REF.match(value.strip())
    return (m.group(1) or m.group(2)) if m else None


def env_refusal(name: str, allowed=ENV_ALLOWED) -> str | None:
    """Why '${name}' may not expand (None when it may)."""
    if _SECRET_NAME.search(name):
        return (f"${name} looks like a credential and is never expanded (a setting is written to batch.json and to "
                "every task definition)")
    if name not in allowed:
        return f"${name} is not on the list of variables a target may read"
    return None


def expand_env(value, env=None):
    """'${NAME}' / '$NAME' -> the variable's value (None when unset); anything else unchanged. No allow-list
    here: load_settings checks each name first (env_refusal)."""
    name = env_ref(value)
    if name is None:
        return value
    return (env if env is not None else os.environ).get(name) or None  # empty = unset


def override_env(target_name: str, key: str) -> str:
    """LAUNCHER_AZB_CPU_BATCH_ENDPOINT for target 'azb-cpu' and key 'batch_endpoint'."""
    return f"LAUNCHER_{target_name.upper().replace('-', '_')}_{key.upper()}"


def account_from_url(url: str) -> str:
    """'https://acct.westeurope.batch.azure.com' -> 'acct'; 'http://127.0.0.1:10000/devstoreaccount1' (Azurite's
    path-style URL) -> 'devstoreaccount1'."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", host) or host == "localhost":
        return parsed.path.strip("/").split("/")[0]
    return host.split(".")[0]


def load_settings(target, config=None, env=None) -> AzureSettings:
    """AzureSettings of a config Target, or one LauncherError listing every problem and how to fix it."""
    env = os.environ if env is None else env
    raw = dict(target.settings)
    file = str(getattr(target, "file", "") or getattr(config, "file", None) or "pyproject.toml")
    line = getattr(target, "line", 0)
    problems: list[Diagnostic] = []
    table = f"[tool.launcher.targets.{target.name}]"

    def bad(key: str, message: str, hint: str) -> None:
        problems.append(Diagnostic("AZ001", ERROR, f"target '{target.name}': {message}", file, line, 1 if line else 0,
                                   hint=hint, path=f"tool.launcher.targets.{target.name}.{key}"))

    for key in raw:
        if key not in KEYS:
            bad(key, f"unknown azure-batch setting '{key}'",
                did_you_mean(key, KEYS) or f"azure-batch targets take: {', '.join(KEYS)}")

    allow = raw.get("env_allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", a)
                                              for a in allow):
        bad("env_allow", "env_allow must be a list of environment variable names",
            'e.g. env_allow = ["MY_BATCH_ENDPOINT"]')
        allow = []
    allowed = (*ENV_ALLOWED, *allow)

    def refuse_refs(key: str, value) -> bool:
        """True (after reporting it) when value is a '$NAME' that may not be expanded."""
        name = env_ref(value)
        why = env_refusal(name, allowed) if name else None
        if why:
            bad(key, f"{key} = {value!r}: {why}",
                f'write the value itself, or use one of {", ".join(ENV_ALLOWED)}'
                + ("" if _SECRET_NAME.search(name) else f', or add "{name}" to env_allow in {table}'))
        return bool(why)

    pinned_by: dict[str, str] = {}
    for key in PINNABLE:
        var = override_env(target.name, key)
        pinned = env.get(var)
        if pinned and pinned.strip():  # the workflow's trusted value wins over the (pull request's) pyproject.toml
            raw[key] = pinned.strip()
            pinned_by[key] = f" (from {var})"

    for key, value in list(raw.items()):
        values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        if key != "env_allow" and key not in pinned_by and any([refuse_refs(key, v) for v in values]):
            raw[key] = None if not isinstance(value, (dict, list)) else type(value)()

    def text(key: str, *, required: bool, hint: str, default: str = "") -> str:
        value = raw.get(key)
        from_env = DEFAULT_ENV.get(key)
        if value is None and from_env and key not in pinned_by:
            value = f"${{{from_env}}}"
        if value is None:
            if required:
                bad(key, f"{key} is not set", hint)
            return default
        expanded = expand_env(value, env)
        if expanded is None:
            bad(key, f"{key} comes from the environment variable {value.strip('${}')}, which is not set",
                f"export {value.strip('${}')}=... (or write {key} = \"...\" in {table}); {hint}")
            return default
        if not isinstance(expanded, str) or not expanded.strip():
            bad(key, f"{key} must be a non-empty string, not {expanded!r}", hint)
            return default
        return expanded.strip()

    def http_url(key: str, what: str, example: str) -> str:
        value = text(key, required=True, hint=f"{what}, e.g. {example}")
        if value and urlparse(value).scheme not in ("http", "https"):
            bad(key, f"{key} {value!r}{pinned_by.get(key, '')} is not an http(s) URL", f"e.g. {example}")
        return value

    batch_endpoint = http_url("batch_endpoint", "the Batch account URL", "https://myacct.westeurope.batch.azure.com")
    storage_url = http_url("storage_account_url", "the Storage account's blob URL",
                           "https://myacct.blob.core.windows.net")
    container = text("container", required=False, hint="", default="launcher")
    if container and not _CONTAINER_RE.match(container):
        bad("container", f"container {container!r} is not a valid blob container name",
            "3-63 characters: lower-case letters, digits and single hyphens")
    vm_size = text("vm_size", required=True, hint='e.g. vm_size = "Standard_D2s_v3"')
    node_agent_sku = text("node_agent_sku", required=True,
                          hint='e.g. node_agent_sku = "batch.node.ubuntu 22.04" (it must match the image)')
    image: dict = {}
    if raw.get("image_id") is not None:
        image_id = text("image_id", required=True, hint="a gallery image version id /subscriptions/…")
        image = {"virtual_machine_image_id": image_id}
        if raw.get("image") is not None:
            bad("image", "give either image = {publisher, offer, sku, version} or image_id, not both",
                "remove one of them")
    elif isinstance(raw.get("image"), dict):
        img = {k: expand_env(v, env) for k, v in raw["image"].items()}
        unknown = [k for k in img if k not in _IMAGE_KEYS]
        missing = [k for k in ("publisher", "offer", "sku") if not isinstance(img.get(k), str) or not img.get(k)]
        if unknown or missing:
            bad("image", "image needs publisher, offer and sku (and optionally version)"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else ""),
                'e.g. image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }')
        image = {"publisher": img.get("publisher"), "offer": img.get("offer"), "sku": img.get("sku"),
                 "version": img.get("version") or "latest"}
    else:
        bad("image", "image is not set" if raw.get("image") is None else "image must be a table",
            'e.g. image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" } '
            'or image_id = "/subscriptions/…/images/…/versions/…"')
    setup = raw.get("setup", [])
    if isinstance(setup, str):
        setup = [setup]
    if not isinstance(setup, list) or not all(isinstance(s, str) and s.strip() for s in setup):
        bad("setup", "setup must be a list of shell commands run once per node",
            'e.g. setup = ["apt-get install -y --no-install-recommends libgl1"] (the requirements are installed '
            'into the node\'s venv by `requirements`)')
        setup = []
    try:
        wall = parse_duration(raw.get("max_wall_clock", "24h"))
    except ValueError:
        bad("max_wall_clock", f"max_wall_clock {raw.get('max_wall_clock')!r} is not a duration",
            'e.g. max_wall_clock = "12h" (s, m, h or d; a bare number is minutes)')
        wall = timedelta(hours=24)
    bound_text = env.get(MAX_WALL_CLOCK_ENV, "").strip()
    if bound_text:
        try:
            bound = parse_duration(bound_text)
        except ValueError:
            bad("max_wall_clock", f"{MAX_WALL_CLOCK_ENV}={bound_text!r} is not a duration",
                "the launch workflow sets it: e.g. 2d, 36h")
        else:
            if wall > bound:
                bad("max_wall_clock", f"max_wall_clock {_human(wall)} is above the bound {_human(bound)} that the "
                    f"trusted configuration sets ({MAX_WALL_CLOCK_ENV})",
                    f"lower max_wall_clock to {_human(bound)} or less, or raise the bound in the workflow")
    retries = raw.get("max_retries", 2)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < -1:
        bad("max_retries", f"max_retries must be a whole number ≥ 0 (or -1: unlimited), not {retries!r}",
            "e.g. max_retries = 2")
        retries = 2
    price_d = price_s = None
    prices = raw.get("price_per_node_hour")
    if prices is not None:
        if isinstance(prices, (int, float)) and not isinstance(prices, bool):
            price_d = price_s = float(prices)
        elif isinstance(prices, dict) and set(prices) <= {"dedicated", "spot"} and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in prices.values()):
            price_d, price_s = prices.get("dedicated"), prices.get("spot")
        else:
            bad("price_per_node_hour", "price_per_node_hour must be a number or { dedicated = …, spot = … }",
                "e.g. price_per_node_hour = { dedicated = 0.096, spot = 0.019 } (in your currency per node-hour)")
    auth = raw.get("auth", "auto")
    if auth not in AUTH_MODES:
        bad("auth", f"auth must be one of {', '.join(AUTH_MODES)}, not {auth!r}{pinned_by.get('auth', '')}",
            did_you_mean(str(auth), AUTH_MODES) or 'e.g. auth = "auto"')
        auth = "auto"
    if auth != "shared-key" and wall + SAS_MARGIN > USER_DELEGATION_MAX:
        bad("max_wall_clock", f"max_wall_clock {_human(wall)} is too long for Entra ID auth: the tasks' SAS "
            f"(a user delegation SAS, valid for the wall clock + {_human(SAS_MARGIN)}) can live at most 7 days",
            f"use max_wall_clock = \"{_human(USER_DELEGATION_MAX - SAS_MARGIN)}\" or less, and split longer work")
    batch_key_env = raw.get("batch_key_env", "")
    storage_key_env = raw.get("storage_key_env", "")
    if auth == "shared-key":
        for key, value in (("batch_key_env", batch_key_env), ("storage_key_env", storage_key_env)):
            if not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value or ""):
                bad(key, f'auth = "shared-key" needs {key}: the NAME of the environment variable holding the key',
                    f'e.g. {key} = "{"BATCH" if key.startswith("batch") else "STORAGE"}_ACCOUNT_KEY" '
                    "(never the key itself: no secret goes into the repo)")
    python = text("python", required=False, hint="", default="python3")
    source = raw.get("launcher_source", "bundle")
    if source not in LAUNCHER_SOURCES:
        bad("launcher_source", f"launcher_source must be one of {', '.join(LAUNCHER_SOURCES)}, not {source!r}",
            '"bundle" ships this launcher to the nodes; "installed" expects it installed by a setup command')
        source = "bundle"
    conc = raw.get("submit_concurrency", 8)
    if not isinstance(conc, int) or isinstance(conc, bool) or not 1 <= conc <= 64:
        bad("submit_concurrency", "submit_concurrency must be a whole number from 1 to 64", "e.g. 8")
        conc = 8
    mirror = raw.get("mirror_interval", 3.0)
    if not isinstance(mirror, (int, float)) or isinstance(mirror, bool) or mirror <= 0:
        bad("mirror_interval", "mirror_interval must be a number of seconds > 0", "e.g. mirror_interval = 3")
        mirror = 3.0
    prefix = raw.get("pool_prefix", "launcher")
    if not isinstance(prefix, str) or not re.match(r"^[A-Za-z0-9_-]{1,12}$", prefix):
        bad("pool_prefix", "pool_prefix must be 1-12 letters, digits, '-' or '_'", 'e.g. pool_prefix = "launcher"')
        prefix = "launcher"
    requirements = raw.get("requirements", "requirements.txt")
    if not (isinstance(requirements, str) and requirements.strip() and not requirements.startswith("/")
            and ".." not in requirements.split("/")) and not (
            isinstance(requirements, list) and all(isinstance(r, str) and r.strip() and "\n" not in r
                                                   for r in requirements)):
        bad("requirements", "requirements must be a file inside the project or a list of requirement lines",
            'e.g. requirements = "requirements.txt" or requirements = ["numpy==1.26.4"]')
        requirements = "requirements.txt"
    datastore = raw.get("datastore")
    if datastore is not None:
        if isinstance(datastore, str):
            container_name, _, prefix = datastore.partition("/")
            datastore = {"container": container_name, "prefix": prefix}
        if (not isinstance(datastore, dict) or set(datastore) - {"container", "prefix"}
                or not _CONTAINER_RE.match(str(datastore.get("container", "")))
                or not isinstance(datastore.get("prefix", ""), str) or ".." in datastore.get("prefix", "").split("/")):
            bad("datastore", "datastore must name a blob container, optionally with a prefix",
                'e.g. datastore = "datasets" or datastore = { container = "datasets", prefix = "rl/" }')
            datastore = None
        else:
            datastore = {"container": datastore["container"], "prefix": datastore.get("prefix", "").strip("/")}
    batch_account = text("batch_account", required=False, hint="", default="")
    if problems:
        raise LauncherError(
            f"target '{target.name}' is not ready for Azure Batch ({len(problems)} problem"
            f"{'s' * (len(problems) > 1)}): " + "; ".join(p.message.split(": ", 1)[1] for p in problems),
            hint=problems[0].hint + f" — set it in {table} of {file} (see docs/azure.md)", diagnostics=problems)
    return AzureSettings(
        target=target.name, batch_endpoint=batch_endpoint.rstrip("/"),
        batch_account=batch_account or account_from_url(batch_endpoint),
        storage_account_url=storage_url.rstrip("/"), storage_account=account_from_url(storage_url),
        container=container, vm_size=vm_size, image=image, node_agent_sku=node_agent_sku, setup=tuple(setup),
        max_wall_clock=wall, max_retries=retries, price_dedicated=price_d, price_spot=price_s, auth=auth,
        batch_key_env=batch_key_env or "", storage_key_env=storage_key_env or "", python=python,
        launcher_source=source, submit_concurrency=conc, mirror_interval=float(mirror), pool_prefix=prefix,
        requirements=requirements, node_venv="python" not in raw and source == "bundle", datastore=datastore)


#: Azure VM size names carry their vCPU count: [Family][Sub-family][# of vCPUs][-Constrained vCPUs][features]
#: (learn.microsoft.com/azure/virtual-machines/vm-naming-conventions), e.g. Standard_D2s_v3 -> 2,
#: Standard_E64-16s_v3 -> 16, Standard_NC24ads_A100_v4 -> 24.
_VM_NAME = re.compile(r"^(?:Standard|Basic)_[A-Za-z]+?(\d+)(?:-(\d+))?", re.IGNORECASE)
MAX_TASK_SLOTS = 256


def vm_vcpus(vm_size: str) -> int | None:
    m = _VM_NAME.match(vm_size or "")
    if not m:
        return None
    return int(m.group(2) or m.group(1)) or None


def max_task_slots(vm_size: str) -> int | None:
    """Batch's taskSlotsPerNode limit for the size: min(4 x vCPUs, 256) (Batch REST API, Pool - Add)."""
    vcpus = vm_vcpus(vm_size)
    return None if vcpus is None else min(4 * vcpus, MAX_TASK_SLOTS)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def estimate_cost(settings: AzureSettings, *, compute_nodes: int, low_priority: bool,
                  hours: float | None = None) -> dict | None:
    """An upper bound of the job's node cost: nodes × price × the wall-clock limit (or `hours`)."""
    price = settings.price_per_node_hour(low_priority)
    if price is None:
        return None
    hours = hours if hours is not None else settings.max_wall_clock.total_seconds() / 3600
    kind = "spot" if low_priority else "dedicated"
    node_hours = round(compute_nodes * hours, 3)
    total = round(compute_nodes * price * hours, 2)
    # total/currency/basis are the names the PR comment reads (launcher.report.comment).
    return {"nodes": compute_nodes, "kind": kind, "price_per_node_hour": price,
            "hours": round(hours, 3), "node_hours": node_hours, "max_cost": total, "total": total,
            "currency": CURRENCY, "per_hour": round(compute_nodes * price, 4),
            "basis": f"upper bound: {node_hours:g} node-hours ({compute_nodes} {kind} node"
                     f"{'s' * (compute_nodes != 1)} × the {hours:g} h wall-clock limit) at ${price:g} per node-hour"}
