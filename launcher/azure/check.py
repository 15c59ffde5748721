"""`launcher check TARGET`: a target checked against the real service before the first launch.

Each check is one small, read-only (or side-effect free) request that says what is wrong and how to fix it:

* credentials: which credential the target uses, and that it yields a token (or the key variables are set);
* Batch: the account answers, and the identity may create auto-pool jobs. A DELETE of a pool and of a job that do
  not exist is authorized (404) or refused (403) before the service looks the resource up, so it tests the
  write rights without touching anything (Azure RBAC decides before the resource provider does);
* Storage: the store container is reachable; the identity may create and delete the jobs' results containers
  (`<container>-<job>`: a data role at account scope, probed with a Delete Container that cannot succeed); a
  user delegation key can be had (Entra auth signs every task's SAS with one: the identity needs
  generateUserDelegationKey at account scope);
* quotas: the active jobs now (the account's quota itself is an ARM property, not readable on the data plane);
* the image / node agent SKU pair among the account's supported images (Account - List Supported Images);
* runs_per_node against the VM size's task slots (min(4 × vCPUs, 256)) when a runspec is given;
* the start task's script: `sh -n` (syntax only, nothing runs).
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"
PROBE = "launcher-check-probe-0"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class CheckReport:
    target: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def to_dict(self) -> dict:
        return {"target": self.target, "ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


def _why(exc) -> str:
    from launcher.azure.errors import error_code, error_message, status_code

    code, status = error_code(exc), status_code(exc)
    return f"{status or ''} {code}: {error_message(exc)}".strip()


def check_target(settings, *, project_dir=".", runs_per_node: int | None = None, env=None) -> CheckReport:
    from launcher.azure.credentials import credentials_for, effective_auth

    report = CheckReport(settings.target)
    add = report.checks.append
    mode = effective_auth(settings, env)
    creds = credentials_for(settings, env)
    # 1. credentials
    try:
        if mode == "shared-key":
            creds.batch(), creds.storage()
            add(Check("credentials", OK, f"shared keys from ${settings.batch_key_env} and ${settings.storage_key_env}"))
        else:
            from launcher.azure.credentials import BATCH_SCOPE

            cred = creds.batch()
            cred.get_token(BATCH_SCOPE)
            add(Check("credentials", OK, f"{mode}: {type(cred).__name__} returned a token for Azure Batch"))
    except Exception as exc:  # noqa: BLE001 - every failure is a finding
        add(Check("credentials", FAIL, f"{mode}: {getattr(exc, 'message', None) or str(exc).splitlines()[0]}",
                  getattr(exc, "hint", "") or "in GitHub Actions set AZURE_CLIENT_ID/AZURE_TENANT_ID and "
                  "`permissions: id-token: write`; on a laptop `az login` (docs/azure.md)"))
        return report
    _check_batch(settings, report)
    _check_storage(settings, report, mode)
    _check_slots(settings, report, runs_per_node)
    _check_setup(settings, report, project_dir)
    return report


def _check_batch(settings, report: CheckReport) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    from launcher.backends.azure_batch import batch_client

    add = report.checks.append
    client = batch_client(settings)
    try:
        active = [j.id for j in client.list_jobs(filter="state eq 'active'", select=["id"])]
    except Exception as exc:  # noqa: BLE001
        add(Check("batch account", FAIL, f"{settings.batch_endpoint}: {_why(exc)}",
                  "check batch_endpoint and that the identity has a Batch data role on the account "
                  "(Azure Batch Data Contributor); Contributor has no data actions"))
        return
    add(Check("batch account", OK, f"{settings.batch_endpoint} answers; {len(active)} active job(s)"))
    add(Check("active jobs", OK if len(active) < 100 else WARN,
              f"{len(active)} active job(s) now (each launch is one; the account's quota is in the portal: "
              "Batch account > Quotas > Active jobs and job schedules)"))
    # Write rights without side effects: deleting what does not exist answers 404 when allowed, 403 when not.
    for what, call, needs in (
            ("auto-pool jobs: job write", lambda: client.begin_delete_job(PROBE), "job and task write"),
            ("auto-pool jobs: pool write", lambda: client.begin_delete_pool(PROBE), "pool write and delete")):
        try:
            call()
            add(Check(what, WARN, f"a probe deletion of '{PROBE}' was accepted: it existed"))
        except ResourceNotFoundError:
            add(Check(what, OK, "allowed"))
        except Exception as exc:  # noqa: BLE001
            add(Check(what, FAIL, f"refused: {_why(exc)}",
                      f"the launcher creates auto-pool jobs, which needs {needs}: assign 'Azure Batch Data "
                      "Contributor' on the Batch account (Azure Batch Job Submitter lacks pool write; Contributor "
                      "has no data actions)"))
    try:
        images = list(client.list_supported_images())
    except Exception as exc:  # noqa: BLE001
        add(Check("image", WARN, f"could not list the supported images: {_why(exc)}"))
        return
    image, sku = settings.image, settings.node_agent_sku
    if "virtual_machine_image_id" in image:
        ok_sku = any(i.node_agent_sku_id == sku for i in images)
        add(Check("image", OK if ok_sku else FAIL, f"custom image; node agent SKU {sku!r}"
                  + ("" if ok_sku else " is not offered"), "" if ok_sku else "pick a node_agent_sku the account lists"))
        return

    def same(ref) -> bool:
        return all(str(getattr(ref, k, "") or "").lower() == str(image.get(k) or "").lower()
                   for k in ("publisher", "offer", "sku"))

    match = [i for i in images if same(i.image_reference)]
    if any(i.node_agent_sku_id == sku for i in match):
        add(Check("image", OK, f"{image['publisher']}/{image['offer']}/{image['sku']} with {sku!r} is supported"))
    elif match:
        add(Check("image", FAIL, f"{image['offer']}/{image['sku']} is offered with node agent SKU "
                  f"{match[0].node_agent_sku_id!r}, not {sku!r}", f'set node_agent_sku = "{match[0].node_agent_sku_id}"'))
    else:
        offered = sorted({f"{i.image_reference.offer}/{i.image_reference.sku}" for i in images})[:8]
        add(Check("image", FAIL, f"{image['publisher']}/{image['offer']}/{image['sku']} is not among the account's "
                  "supported images", "one of: " + ", ".join(offered)))


def _check_storage(settings, report: CheckReport, mode: str) -> None:
    from datetime import datetime, timedelta, timezone

    from launcher.azure.credentials import credentials_for
    from launcher.store.azure_blob import AzureBlobStore

    add = report.checks.append
    try:
        store = AzureBlobStore(settings.container_url, credentials_for(settings).storage(), create_container=False)
        store.container.get_container_properties()
        add(Check("store container", OK, f"{settings.container_url} is reachable"))
    except Exception as exc:  # noqa: BLE001
        code = getattr(exc, "error_code", "") or ""
        fix = ("create the container (or let the first launch create it: that needs Storage Blob Data Contributor)"
               if "ContainerNotFound" in str(code) or "ContainerNotFound" in str(exc) else
               "assign 'Storage Blob Data Contributor' on the storage account to the identity (the jobs' "
               "results containers need it there too)")
        add(Check("store container", FAIL, f"{settings.container_url}: {_why(exc)}", fix))
        return
    _check_job_containers(settings, report, store)
    if mode == "shared-key":
        add(Check("user delegation key", SKIP, "shared-key auth signs SAS with the account key"))
        return
    try:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(settings.storage_account_url, credential=credentials_for(settings).storage())
        start = datetime.now(timezone.utc)
        service.get_user_delegation_key(start, start + settings.max_wall_clock + timedelta(hours=1))
        add(Check("user delegation key", OK, "obtainable for the wall clock + 1 h"))
    except Exception as exc:  # noqa: BLE001
        add(Check("user delegation key", FAIL, _why(exc),
                  "the identity needs Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey at "
                  "ACCOUNT scope: assign 'Storage Blob Delegator' on the storage account (a data role on the "
                  "container alone is not enough)"))


def probe_container_name(container: str) -> str:
    """A container beside the store's that the probe below names: never deleted, even when it exists."""
    return f"{container[:56].rstrip('-')}-probe"


def _check_job_containers(settings, report: CheckReport, store) -> None:
    """Each launch creates its job's results container and a refused one deletes it: container write and delete
    at account scope (a role assigned on the store container alone does not cover a container not created yet).
    What is probed is the delete right, without side effects: Delete Container with If-Unmodified-Since in 2000 is
    authorized first (403 when not allowed), then answers 404 (no such container) or 412 (it exists: not
    deleted). Create is not probed (it would create something); the built-in role this check's fix names grants
    both (containers/write and containers/delete), so a custom role that deletes but cannot create passes here
    and fails at the first launch, with the same hint."""
    from datetime import datetime, timezone

    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
    from azure.storage.blob import ContainerClient

    add = report.checks.append
    name = probe_container_name(store.container_name)
    probe = ContainerClient(store.account_url, name, credential=store.credential)
    try:
        probe.delete_container(if_unmodified_since=datetime(2000, 1, 1, tzinfo=timezone.utc))
        add(Check("results containers", WARN, f"a probe deletion of container '{name}' was accepted"))
    except (ResourceNotFoundError, ResourceModifiedError):
        add(Check("results containers", OK, f"the identity may delete '{store.container_name}-<job>' containers "
                                            "(each job's results; create is not probed: it would create one)"))
    except Exception as exc:  # noqa: BLE001
        add(Check("results containers", FAIL, f"container create/delete refused: {_why(exc)}",
                  "each job's results go to a container of their own ('<container>-<job>'), created at launch: "
                  "assign 'Storage Blob Data Contributor' on the storage ACCOUNT (not only on the container)"))


def _check_slots(settings, report: CheckReport, runs_per_node: int | None) -> None:
    from launcher.azure.settings import max_task_slots, vm_vcpus

    limit = max_task_slots(settings.vm_size)
    if limit is None:
        report.checks.append(Check("task slots", WARN, f"the vCPUs of {settings.vm_size} are not known here"))
        return
    if runs_per_node is None:
        report.checks.append(Check("task slots", OK, f"{settings.vm_size}: up to {limit} runs per node "
                                   f"({vm_vcpus(settings.vm_size)} vCPUs)"))
        return
    ok = runs_per_node <= limit
    report.checks.append(Check("task slots", OK if ok else FAIL,
                               f"runs_per_node {runs_per_node} on {settings.vm_size}: at most {limit}",
                               "" if ok else f"runs_per_node {limit} or less, or a bigger vm_size"))


def _check_setup(settings, report: CheckReport, project_dir) -> None:
    from launcher.azure.node_setup import node_setup, project_requirements

    if settings.node_venv:
        script = shlex.split(node_setup(settings.setup, project_requirements(project_dir, settings.requirements))
                             .command_line)[2]
    else:
        script = " && ".join(settings.setup)
    if not script:
        report.checks.append(Check("setup", SKIP, "no start task"))
        return
    proc = subprocess.run(["/bin/sh", "-n", "-c", script], capture_output=True, text=True, timeout=30)
    if proc.returncode == 0:
        report.checks.append(Check("setup", OK, "the start task's script parses (sh -n)"))
    else:
        report.checks.append(Check("setup", FAIL, f"the start task's script does not parse: {proc.stderr.strip()}",
                                   "fix the `setup` commands of the target"))
