"""The Azure Batch backend: one Batch job per launch, one task per child run, results in Azure Blob Storage.

Mapping of a JobPlan (docs/azure.md has the long form):

* job `job12` of workspace `ws1` -> Batch job `ws1-job12` (ids are case-insensitive, [A-Za-z0-9_-], <= 64),
  with metadata: job number, runspec, content hash, commit, origin, store;
* an auto pool per job: compute_nodes nodes, Spot (target_low_priority_nodes) when the runspec says
  low_priority, else dedicated; task_slots_per_node = runs_per_node, so Batch itself starts the next run in a
  freed slot until total_runs are done; `hold: true` keeps the pool after the job (keep_alive) until
  `launcher pool delete` or `launcher cancel` removes it;
* the pool's start task builds the launcher's venv once per node (launcher/azure/node_setup.py), unless the
  target's `python` names a ready interpreter; runs_per_node is checked against the VM size before anything;
* one task per child run (`run527.1` -> `run527-1`), built from one template and added 100 per
  addtaskcollection call, submit_concurrency calls at once (launcher/azure/task_submit.py); the job is
  created with no action on completion and switched to terminate-job once every task is in, so it neither
  ends early nor lingers against the active-job quota; only the parents' queued records are written first
  (a child's is implied by the plan until it starts);
* a task runs the venv's python, which checks the launcher bundle against the sha256 on its command line
  before running it; the plan and launched runspec are checked by the agent against the hashes there too.
  The code snapshot and the bundle are resource files with read SAS on those blobs; the agent's store is a
  container SAS on the job's own results container `<container>-<job>` (read, add, create, write: no delete, no
  list), created here, plus read SAS on the plan, launched runspec and job record: environment settings, which
  the agent hides from the run (see node_agent). A task can so write its own job's results and nothing else
  (store/job_containers.py); every SAS expires with the job's wall-clock limit (+1 h); stdout/stderr are also
  uploaded as output files to the job's container when the task ends, as a backstop; a `datastore` container is
  mounted read-only on the pool.

Everything Batch knows and the store does not (an auto pool that cannot be allocated, a quota, a task that
failed before its agent started, the held pool) is folded into `status` by BatchObserver, which the store
opened by this backend carries (jobs.status.job_summary calls store.refresh_job).
"""

from __future__ import annotations

import os
import re
import shlex
import threading
import time
from functools import cached_property

from launcher.backends.base import Backend, queued_records
from launcher.diagnostics import LauncherError
from launcher.jobs import records as R
from launcher.jobs.plan import JobPlan

SERVICE = "Azure Batch"
CODE_FILE = "code.zip"
#: relativeMountPath of the datastore container under $AZ_BATCH_NODE_MOUNTS_DIR
DATASTORE_MOUNT = "datastore"
#: seconds between two looks at Batch for one job's status (launch --follow polls 4 times a second)
OBSERVE_EVERY = 5.0
_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")


# -- names -------------------------------------------------------------------------------------------------
def batch_job_id(workspace: str, job: str) -> str:
    return _ID_BAD.sub("-", f"{workspace}-{job}").lower()[:64]


def task_id(run: str) -> str:
    """run527.1 -> run527-1 (Batch ids take no dots)."""
    return _ID_BAD.sub("-", run)[:64]


def run_of_task(tid: str) -> str:
    head, sep, tail = tid.rpartition("-")
    return f"{head}.{tail}" if sep and tail.isdigit() else tid


def batch_key(job: str) -> str:
    return R.job_key(job, "batch.json")


# -- the client --------------------------------------------------------------------------------------------
def batch_client(settings):
    """A BatchClient for the target. Throttling (429), 5xx and timeouts are retried by azure-core's retry
    policy with exponential backoff (honouring Retry-After)."""
    from azure.batch import BatchClient

    from launcher.azure.credentials import credentials_for

    backoff = float(os.environ.get("LAUNCHER_AZURE_RETRY_BACKOFF", "0.8"))
    return BatchClient(settings.batch_endpoint, credentials_for(settings).batch(), retry_total=6,
                       retry_backoff_factor=backoff, retry_backoff_max=30, polling_interval=1,
                       connection_timeout=20, read_timeout=60)


def _launcher_error(exc, settings, doing: str) -> LauncherError:
    from launcher.azure.errors import to_launcher_error

    return to_launcher_error(exc, service=SERVICE, where=settings.batch_endpoint, doing=doing)


def job_launcher_options(store, job: str) -> dict:
    """low_priority and hold from the launched runspec's job_launcher section (XT's names)."""
    import yaml

    text = store.read_text(R.job_key(job, "launched_job_spec.yaml")) or ""
    try:
        jl = (yaml.safe_load(text) or {}).get("job_launcher") or {}
    except yaml.YAMLError:
        jl = {}
    from launcher.jobs.plan import truthy

    return {"low_priority": truthy(jl.get("low_priority")), "hold": truthy(jl.get("hold"))}


class AzureBatchBackend(Backend):
    name = "azure-batch"

    def __init__(self, target, store, config) -> None:
        from launcher.azure.settings import load_settings

        super().__init__(target, store, config)
        self.settings = load_settings(target, config)

    @classmethod
    def open_store(cls, target, config):
        from launcher.azure.credentials import credentials_for
        from launcher.azure.settings import load_settings
        from launcher.store.azure_blob import AzureBlobStore

        settings = load_settings(target, config)
        store = AzureBlobStore(settings.container_url, credentials_for(settings).storage())
        store.refresh_job = BatchObserver(settings, store).refresh  # read by jobs.status.job_summary
        return store

    @cached_property
    def client(self):
        return batch_client(self.settings)

    # -- submit ------------------------------------------------------------------------------------------
    def submit(self, plan: JobPlan) -> None:
        from launcher.azure.sas import SasSigner, expiry_after
        from launcher.azure.settings import estimate_cost

        s = self.settings
        opts = job_launcher_options(self.store, plan.job)
        job_id = batch_job_id(plan.workspace, plan.job)
        record = self.store.read_json(R.job_key(plan.job, "job.json")) or {}
        info = {"batch_job_id": job_id, "batch_endpoint": s.batch_endpoint, "hold": opts["hold"],
                "low_priority": opts["low_priority"], "vm_size": s.vm_size, "pool_id": None,
                "state": "submitting", "tasks": len(plan.children), "submitted": R.now_iso(),
                "estimate": estimate_cost(s, compute_nodes=plan.compute_nodes, low_priority=opts["low_priority"])}
        self.store.write_json(batch_key(plan.job), info)
        expiry = expiry_after(s.max_wall_clock)
        signer = SasSigner(self.store)
        self._hashes = self._submitted_hashes(plan.job)
        try:
            resources = [("code", signer.blob_url(plan.code_key, expiry=expiry), CODE_FILE)]
            if s.launcher_source == "bundle":
                from launcher.azure.bundle import upload_bundle

                key, _sent = upload_bundle(self.store)
                resources.append(("bundle", signer.blob_url(key, expiry=expiry), key.split("/")[-1]))
                self._hashes["bundle"] = key.split("launcher-", 1)[1].removesuffix(".pyz")
            # The tasks' only write access: their job's results container (store/job_containers.py).
            results = self.store.ensure_job_container(plan.job)
            agent_url = signer.container_url(expiry=expiry, permission="racw", container=results)
            output_url = signer.container_url(expiry=expiry, permission="cw", container=results)
            self._read_urls = task_read_urls(signer, plan.job, expiry)
            self._node = self._node_files(signer, expiry)
            self._datastore_sas = (signer.container_url(expiry=expiry, permission="rl",
                                                        container=s.datastore["container"]).split("?", 1)[1]
                                   if s.datastore else None)
        except LauncherError:
            raise
        except Exception as exc:  # noqa: BLE001 - SDK errors of the SAS step (user delegation key)
            from launcher.azure.errors import to_launcher_error

            raise to_launcher_error(exc, service="Azure Blob Storage", where=self.store.url,
                                    doing="signing SAS URLs for the tasks") from None
        self._create_job(job_id, plan, record, opts)
        self._refuse_if_pool_failed(job_id)
        try:
            self._add_tasks(job_id, self._task_bodies(plan, resources, agent_url, output_url))
            self._wait_for_parent_records()
            from azure.batch import models as bm

            self.client.update_job(job_id, bm.BatchJobUpdateOptions(
                all_tasks_complete_mode=bm.BatchAllTasksCompleteMode.TERMINATE_JOB))
            job = self.client.get_job(job_id)
            info.update(state="submitted", pool_id=getattr(job.execution_info, "pool_id", None))
            self.store.write_json(batch_key(plan.job), info)
        except BaseException as exc:
            # The Batch job exists but is not complete: remove it (and a held pool) so nothing is orphaned.
            self._delete_batch_job(job_id, delete_pool=True)
            info.update(state="removed", error=str(getattr(exc, "message", exc))[:500])
            try:
                self.store.write_json(batch_key(plan.job), info)
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            if isinstance(exc, LauncherError) or not isinstance(exc, Exception):
                raise
            from launcher.azure.errors import error_code

            if error_code(exc) == "JobCompleted":  # the auto pool failed while the tasks were being added
                failed = getattr(self, "_pool_failure", None)
                if failed:
                    raise failed from None
            raise _launcher_error(exc, s, f"adding the tasks of {job_id}") from None

    def _node_files(self, signer, expiry):
        """The node setup (launcher/azure/node_setup.py) and its requirement files as resource files: uploaded
        content-addressed, each with a read SAS on that one blob. None when `python` names a ready interpreter."""
        s = self.settings
        if not s.node_venv:
            return None
        import hashlib

        from launcher.azure.node_setup import node_setup, project_requirements

        project_dir = getattr(self.config, "project_dir", None) or "."
        setup = node_setup(s.setup, project_requirements(project_dir, s.requirements))
        resources = []
        for name, data in setup.files:
            key = f"code/node-{hashlib.sha256(data).hexdigest()}.txt"
            self.store.put_if_absent(key, data)
            resources.append((name, signer.blob_url(key, expiry=expiry)))
        return setup, resources

    def _submitted_hashes(self, job: str) -> dict:
        """sha256 of the plan and the launched runspec as they are in the store now: the tasks' command lines
        carry them, and the agent runs nothing that differs (nothing a job's code wrote is trusted)."""
        import hashlib

        out = {}
        for name in ("plan.json", "launched_job_spec.yaml"):
            data = self.store.read_bytes(R.job_key(job, name))
            if data is None:
                raise LauncherError(f"{job} has no {name} in the store", hint="launch it again")
            out[name] = hashlib.sha256(data).hexdigest()
        return out

    def _create_job(self, job_id: str, plan: JobPlan, record: dict, opts: dict) -> None:
        from azure.batch import models as bm
        from azure.core.exceptions import HttpResponseError

        from launcher.azure.errors import error_code

        s = self.settings
        nodes = plan.compute_nodes
        vm = bm.VirtualMachineConfiguration(image_reference=bm.BatchVmImageReference(**s.image),
                                            node_agent_sku_id=s.node_agent_sku)
        admin = bm.UserIdentity(auto_user=bm.AutoUserSpecification(scope=bm.AutoUserScope.POOL,
                                                                    elevation_level=bm.ElevationLevel.ADMIN))
        start_task = None
        node = getattr(self, "_node", None)
        if node:
            setup, files = node
            # The venv the tasks use: once per node, named by the hash of what goes into it (node_setup.py).
            start_task = bm.BatchStartTask(
                command_line=setup.command_line, wait_for_success=True, max_task_retry_count=2, user_identity=admin,
                resource_files=[bm.ResourceFile(http_url=url, file_path=name) for name, url in files])
        elif s.setup:
            # The project's own setup commands (from pyproject.toml, never from a runspec) need a shell.
            start_task = bm.BatchStartTask(
                command_line="/bin/sh -c " + shlex.quote(" && ".join(s.setup)), wait_for_success=True,
                max_task_retry_count=1, user_identity=admin)
        mounts = None
        if s.datastore and getattr(self, "_datastore_sas", None):
            # The datastore container, mounted by Batch (blobfuse) at $AZ_BATCH_NODE_MOUNTS_DIR/datastore.
            mounts = [bm.MountConfiguration(azure_blob_file_system_configuration=bm.AzureBlobFileSystemConfiguration(
                account_name=s.storage_account, container_name=s.datastore["container"],
                relative_mount_path=DATASTORE_MOUNT, sas_key=self._datastore_sas, blobfuse_options="-o ro"))]
        pool = bm.BatchPoolSpecification(
            vm_size=s.vm_size, virtual_machine_configuration=vm,
            target_dedicated_nodes=0 if opts["low_priority"] else nodes,
            target_low_priority_nodes=nodes if opts["low_priority"] else 0,
            task_slots_per_node=plan.runs_per_node, start_task=start_task, mount_configuration=mounts)
        pool_info = bm.BatchPoolInfo(auto_pool_specification=bm.BatchAutoPoolSpecification(
            pool_lifetime_option=bm.BatchPoolLifetimeOption.JOB, keep_alive=opts["hold"],
            auto_pool_id_prefix=s.pool_prefix, pool=pool))
        meta = {"launcher_job": plan.job, "workspace": plan.workspace, "runspec": record.get("runspec", plan.runspec),
                "content_hash": record.get("content_hash", ""), "commit": record.get("commit", ""),
                "origin": record.get("origin", ""), "store": self.store.url, "hold": str(opts["hold"]).lower()}
        job = bm.BatchJobCreateOptions(
            id=job_id, pool_info=pool_info,
            constraints=bm.BatchJobConstraints(max_wall_clock_time=s.max_wall_clock, max_task_retry_count=s.max_retries),
            all_tasks_complete_mode=bm.BatchAllTasksCompleteMode.NO_ACTION,
            metadata=[bm.BatchMetadataItem(name=k, value=str(v)[:512]) for k, v in meta.items()])
        try:
            self.client.create_job(job)
        except HttpResponseError as exc:
            code = error_code(exc)
            if code == "JobExists" and self._is_ours(job_id, plan.job):
                return  # a retried create whose first attempt went through
            if code == "JobExists":
                raise LauncherError(f"a Batch job {job_id} already exists and was not launched from this store",
                                    hint="another store (or a reset job counter) used the same job number; delete "
                                         "the Batch job or use another workspace name") from None
            if code == "ActiveJobAndScheduleQuotaReached":
                raise self._quota_error(job_id) from None
            raise _launcher_error(exc, s, f"creating the Batch job {job_id}") from None
        except Exception as exc:  # noqa: BLE001 - auth, network
            raise _launcher_error(exc, s, f"creating the Batch job {job_id}") from None

    def _refuse_if_pool_failed(self, job_id: str) -> None:
        """Batch completes a job whose auto pool it could not create (PoolInformation.autoPoolSpecification: "the
        Batch service moves the Job to a completed state, and the Pool creation error is set in the Job's
        scheduling error property"): say so and launch nothing, instead of adding tasks to a completed job."""
        try:
            job = self.client.get_job(job_id)
        except Exception:  # noqa: BLE001 - the task submission reports what is wrong with the job
            return
        sched = getattr(job.execution_info, "scheduling_error", None)
        if sched is None or not sched.code:
            return
        error = pool_failure_error(job_id, sched.code, getattr(sched, "message", "") or "")
        self._pool_failure = error
        if _s(job.state) == "completed":
            raise error

    def _is_ours(self, job_id: str, job: str) -> bool:
        try:
            existing = self.client.get_job(job_id)
        except Exception:  # noqa: BLE001
            return False
        meta = {m.name: m.value for m in (existing.metadata or [])}
        return meta.get("launcher_job") == job and meta.get("store") == self.store.url

    def _quota_error(self, job_id: str) -> LauncherError:
        running: list[str] = []
        try:
            for job in self.client.list_jobs(filter="state eq 'active'", select=["id", "state"]):
                running.append(job.id)
        except Exception:  # noqa: BLE001 - the quota message matters more than the list
            pass
        shown = ", ".join(running[:20]) + (f" and {len(running) - 20} more" if len(running) > 20 else "")
        return LauncherError(
            f"the Batch account's active-job quota is reached: {job_id} was not created "
            f"({len(running)} active job{'s' * (len(running) != 1)}: {shown or 'none listed'})",
            hint="wait for jobs to finish, cancel some (`launcher cancel JOB`), or ask for a higher "
                 "'active jobs and job schedules' quota; nothing was launched")

    def _task_argv(self, plan: JobPlan, run: str, resources) -> list[str]:
        s = self.settings
        hashes = getattr(self, "_hashes", {})
        args = ["--mirror-interval", f"{s.mirror_interval:g}"]
        if hashes:
            args += ["--plan-sha256", hashes["plan.json"], "--spec-sha256", hashes["launched_job_spec.yaml"]]
        args += [plan.job, run]  # the run last: _task_bodies relies on it
        if s.launcher_source == "bundle":
            from launcher.azure.bundle import bundle_argv

            pyz = next(name for kind, _u, name in resources if kind == "bundle")
            node = getattr(self, "_node", None)
            if node:
                return node[0].python_argv(bundle_argv("python", pyz, hashes["bundle"], args)[1:])
            return bundle_argv(s.python, pyz, hashes["bundle"], args)
        return [s.python, "-m", "launcher.azure.node_agent", *args]

    def _task(self, plan: JobPlan, run: str, resources, agent_url: str, output_url: str):
        """One run's task as the SDK model (what _task_bodies' template is made from)."""
        from azure.batch import models as bm

        import json

        from launcher.azure.node_agent import CODE_ENV, DATASTORE_ENV, READ_ENV, STORE_ENV

        s = self.settings
        read_urls = json.dumps(getattr(self, "_read_urls", {}), sort_keys=True)
        return bm.BatchTaskCreateOptions(
            id=task_id(run), command_line=shlex.join(self._task_argv(plan, run, resources)),
            resource_files=[bm.ResourceFile(http_url=url, file_path=name) for _kind, url, name in resources],
            environment_settings=[bm.EnvironmentSetting(name=STORE_ENV, value=agent_url),
                                  bm.EnvironmentSetting(name=READ_ENV, value=read_urls),
                                  bm.EnvironmentSetting(name=CODE_ENV, value=CODE_FILE)]
            + ([bm.EnvironmentSetting(name=DATASTORE_ENV, value="/".join(
                filter(None, (DATASTORE_MOUNT, s.datastore["prefix"]))))] if s.datastore else []),
            output_files=[bm.OutputFile(
                file_pattern="../std*.txt",
                destination=bm.OutputFileDestination(container=bm.OutputFileBlobContainerDestination(
                    container_url=output_url, path=R.run_key(run, "batch"))),
                upload_options=bm.OutputFileUploadConfiguration(
                    upload_condition=bm.OutputFileUploadCondition.TASK_COMPLETION))],
            constraints=bm.BatchTaskConstraints(max_wall_clock_time=s.max_wall_clock,
                                                max_task_retry_count=s.max_retries))

    def _task_bodies(self, plan: JobPlan, resources, agent_url: str, output_url: str) -> list[dict]:
        """Every child's task as its REST body: one SDK model for the first run is the template, and only what
        differs per run is put in (id, the run at the end of the command line, the output path). Building and
        serialising 10,000 models cost about a millisecond each; the other fields are shared, never copied."""
        if not plan.children:
            return []
        first = plan.children[0].name
        template = self._task(plan, first, resources, agent_url, output_url).as_dict(exclude_readonly=True)
        prefix = shlex.join(self._task_argv(plan, first, resources)[:-1])
        output = template["outputFiles"][0]
        container = output["destination"]["container"]
        bodies = []
        for child in plan.children:
            run = child.name
            out = {**output, "destination": {**output["destination"],
                                             "container": {**container, "path": R.run_key(run, "batch")}}}
            bodies.append({**template, "id": task_id(run), "commandLine": f"{prefix} {shlex.quote(run)}",
                           "outputFiles": [out]})
        return bodies

    def _add_tasks(self, job_id: str, bodies: list[dict]) -> None:
        """Every task in, or a LauncherError (the caller removes the Batch job): launcher/azure/task_submit.py."""
        from launcher.azure.task_submit import add_tasks

        outcome = add_tasks(self.client, job_id, bodies, concurrency=self.settings.submit_concurrency)
        if outcome.refused:
            shown = "; ".join(f"{tid}: {code}" for tid, code in outcome.refused[:5])
            raise LauncherError(f"Batch refused {len(outcome.refused)} task(s) of {job_id}: {shown}",
                                hint="nothing was launched; the Batch job was removed")
        if outcome.not_added:
            if outcome.errors:
                raise outcome.errors[0]  # reported as Batch's error (auth, a completed job, ...) by submit
            raise LauncherError(f"{len(outcome.not_added)} tasks of {job_id} could not be added to Batch",
                                hint="the Batch service did not take them after several attempts; nothing was "
                                     "launched")

    def preflight(self, *, compute_nodes: int, runs_per_node: int, low_priority: bool) -> None:
        from launcher.azure.settings import MAX_TASK_SLOTS, max_task_slots, vm_vcpus

        s = self.settings
        limit = max_task_slots(s.vm_size)
        if limit is None:
            limit = MAX_TASK_SLOTS
        if runs_per_node > limit:
            vcpus = vm_vcpus(s.vm_size)
            raise LauncherError(
                f"runs_per_node {runs_per_node} is more than Batch allows on {s.vm_size}: at most {limit} task slots "
                + (f"per node (4 × {vcpus} vCPUs)" if vcpus and limit < MAX_TASK_SLOTS else "per node"),
                hint=f"set job_launcher.runs_per_node to {limit} or less, or pick a bigger vm_size for target "
                     f"'{s.target}'; nothing was launched")

    def cost_estimate(self, *, compute_nodes: int, low_priority: bool) -> dict | None:
        from launcher.azure.settings import estimate_cost

        return estimate_cost(self.settings, compute_nodes=compute_nodes, low_priority=low_priority)

    def discard(self, plan: JobPlan) -> None:
        """A refused job: its results container (its summary and the parents' records: the only run records
        record_queued wrote; nothing ran, so no child has one), its jobs/<job>/ records and its run index, once
        the records' writes are over (none lands after the delete)."""
        try:
            self._wait_for_parent_records()
        except Exception:  # noqa: BLE001 - the launch is failing already: remove what did land
            pass
        from launcher.store.job_containers import run_index_key

        self.store.delete_job_container(plan.job)  # the summary and the parents' records with it
        self._delete_keys(self.store.list(f"jobs/{plan.job}/"))
        self._delete_keys([run_index_key(run) for run in plan.parents])  # last: they route the run keys

    def _delete_keys(self, keys: list[str]) -> None:
        """One request per blob: in parallel."""
        from concurrent.futures import ThreadPoolExecutor

        if len(keys) < 4:
            super()._delete_keys(keys)
            return
        with ThreadPoolExecutor(max_workers=min(16, len(keys))) as pool:
            list(pool.map(self.store.delete, keys))

    # -- cancel, pools ----------------------------------------------------------------------------------------
    def _stop(self, job: str) -> None:
        """Terminate the Batch job (its running tasks are stopped); a held pool is deleted too."""
        info = self.store.read_json(batch_key(job)) or {}
        job_id = info.get("batch_job_id") or batch_job_id(self.config.workspace if self.config else "ws1", job)
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        # Not re-exported from azure.batch.models; without options begin_terminate_job fails in the SDK itself
        # (content-type header of an absent body).
        from azure.batch.models._models import BatchJobTerminateOptions

        try:
            self.client.begin_terminate_job(job_id, options=BatchJobTerminateOptions(termination_reason="UserTerminate"))
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            from launcher.azure.errors import error_code

            if error_code(exc) not in ("JobCompleted", "JobBeingTerminated", "JobBeingDeleted"):
                raise _launcher_error(exc, self.settings, f"terminating {job_id}") from None
        if info.get("hold"):
            self.delete_pool_of(job)

    def _delete_batch_job(self, job_id: str, *, delete_pool: bool) -> None:
        try:
            job = self.client.get_job(job_id)
            pool_id = getattr(job.execution_info, "pool_id", None)
            self.client.begin_delete_job(job_id)
            if delete_pool and pool_id:
                try:
                    self.client.begin_delete_pool(pool_id)
                except Exception:  # noqa: BLE001 - an auto pool without keep_alive goes with its job
                    pass
        except Exception:  # noqa: BLE001 - best effort while another error is being reported
            pass

    def pool_of(self, job: str) -> str | None:
        info = self.store.read_json(batch_key(job)) or {}
        if info.get("pool_id"):
            return info["pool_id"]
        job_id = info.get("batch_job_id")
        if not job_id:
            return None
        try:
            return getattr(self.client.get_job(job_id).execution_info, "pool_id", None)
        except Exception:  # noqa: BLE001
            return None

    def delete_pool(self, pool_id: str) -> bool:
        """Delete a pool; False when it does not exist."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        from launcher.azure.errors import error_code

        try:
            self.client.begin_delete_pool(pool_id)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            if error_code(exc) == "PoolBeingDeleted":
                return True
            raise _launcher_error(exc, self.settings, f"deleting pool {pool_id}") from None
        except Exception as exc:  # noqa: BLE001
            raise _launcher_error(exc, self.settings, f"deleting pool {pool_id}") from None
        return True

    def delete_pool_of(self, job: str) -> str | None:
        pool_id = self.pool_of(job)
        if pool_id and self.delete_pool(pool_id):
            info = self.store.read_json(batch_key(job)) or {}
            info.update(pool_deleted=R.now_iso(), pool_id=pool_id)
            self.store.write_json(batch_key(job), info)
            return pool_id
        return None

    def list_pools(self) -> list[dict]:
        jobs_by_pool = {}
        try:
            for j in self.client.list_jobs(select=["id", "state", "executionInfo", "metadata"]):
                pid = getattr(j.execution_info, "pool_id", None)
                if pid:
                    meta = {m.name: m.value for m in (j.metadata or [])}
                    jobs_by_pool[pid.lower()] = (meta.get("launcher_job") or j.id, _s(j.state))
            out = []
            for p in self.client.list_pools():
                job, job_state = jobs_by_pool.get(p.id.lower(), ("", ""))
                out.append({"pool": p.id, "state": _s(p.state), "allocation": _s(p.allocation_state) or "",
                            "vm_size": p.vm_size, "dedicated": p.current_dedicated_nodes,
                            "spot": p.current_low_priority_nodes, "target_dedicated": p.target_dedicated_nodes,
                            "target_spot": p.target_low_priority_nodes, "job": job, "job_state": job_state,
                            "resize_errors": [e.code for e in (p.resize_errors or [])]})
            return out
        except Exception as exc:  # noqa: BLE001
            raise _launcher_error(exc, self.settings, "listing pools") from None

    def record_queued(self, plan: JobPlan) -> None:
        """The queued records of the parent runs only (one per node): a child's record is implied by the plan
        until its agent starts it (jobs.status reads a missing child as queued), so a 10,000-run launch uploads
        a few dozen small blobs instead of 10,050. They are written in a thread while submit talks to Batch
        (nothing on a node reads a parent's record); submit waits for them before it switches the job to
        terminate, and a failed write fails the launch there."""
        import json
        from concurrent.futures import ThreadPoolExecutor

        encoded = [(k, (json.dumps(v, indent=2, sort_keys=True) + "\n").encode())
                   for k, v in queued_records(plan, children=False)]

        def write():
            # The job's results container (made by the job's summary already in a launch), then the run index,
            # which sends the job's run records there.
            self.store.ensure_job_container(plan.job)
            self.store.bind_runs(plan.job, plan.parents)
            self.store.write_many(encoded, label="recording runs")
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parent-records")
        self._parent_records = pool.submit(write)
        pool.shutdown(wait=False)

    def _wait_for_parent_records(self) -> None:
        pending = getattr(self, "_parent_records", None)
        self._parent_records = None
        if pending is not None:
            pending.result()

def task_read_urls(signer, job: str, expiry) -> dict:
    """{key: read SAS URL} of the store blobs a task reads (node_agent.READ_NAMES), one blob each."""
    from launcher.azure.node_agent import READ_NAMES

    return {R.job_key(job, name): signer.blob_url(R.job_key(job, name), expiry=expiry) for name in READ_NAMES}


def pool_failure_error(job_id: str, code: str, message: str) -> LauncherError:
    from launcher.azure.errors import QUOTA_CODES, redact

    quota = code in QUOTA_CODES or "Quota" in code
    hint = ("the account has no cores left for this VM family: ask for a higher dedicated or Spot core quota "
            "(Azure portal: Batch account > Quotas), use fewer compute_nodes, or low_priority: true; "
            "`launcher check TARGET` shows what else is wrong" if quota else
            "fix the pool settings of the target (vm_size, image, node_agent_sku); nothing ran")
    return LauncherError(f"Batch could not create the auto pool of {job_id}: {code}: {redact(message)[:300]}",
                         hint=hint)


class BatchObserver:
    """Folds Batch's view of a job into the store's: called by jobs.status.job_summary (at most every
    OBSERVE_EVERY seconds per job). Returns extra summary fields; writes run records only to correct them:

    * a task that Batch completed with a failure while its run never left queued (e.g. a resource file that
      could not be downloaded, no python on the node) -> the run is failed, with Batch's failure message;
    * a run marked lost whose task Batch has requeued (Spot preemption) -> queued again;
    * the job's auto pool stuck below target with a quota error, or not created at all -> `waiting: quota`.
    """

    def __init__(self, settings, store) -> None:
        self.settings, self.store = settings, store
        self._seen: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()
        self._plans: dict[str, dict] = {}
        self._failed_seen: dict[str, int] = {}
        self._jobs_by_batch_id: dict[str, str] = {}

    @cached_property
    def client(self):
        return batch_client(self.settings)

    def refresh(self, job: str) -> dict:
        with self._lock:
            seen = self._seen.get(job)
            if seen and time.monotonic() - seen[0] < OBSERVE_EVERY:
                return seen[1]
        info = self.store.read_json(batch_key(job))
        if not info or info.get("state") == "removed":
            return {}
        if info.get("state") == "completed" and not info.get("hold"):  # nothing left to learn from Batch
            return {"batch": {"job": info.get("batch_job_id"), "state": "completed", "pool": info.get("pool_id")}}
        try:
            extra = self._observe(job, info)
        except LauncherError:
            raise
        except Exception as exc:  # noqa: BLE001 - Batch unreachable: the store's view still stands
            from launcher.azure.errors import redact

            extra = {"batch": {"job": info.get("batch_job_id"), "error": redact(str(exc).splitlines()[0])[:300]}}
        with self._lock:
            self._seen[job] = (time.monotonic(), extra)
        return extra

    def _observe(self, job: str, info: dict) -> dict:
        from azure.core.exceptions import ResourceNotFoundError

        job_id = info["batch_job_id"]
        self._jobs_by_batch_id[job_id] = job
        batch = {"job": job_id, "pool": info.get("pool_id"), "hold": bool(info.get("hold"))}
        if info.get("estimate"):
            batch["estimate"] = info["estimate"]
        try:
            bjob = self.client.get_job(job_id)
        except ResourceNotFoundError:
            batch["state"] = "deleted"
            return {"batch": batch}
        batch["state"] = _s(bjob.state)
        pool_id = getattr(bjob.execution_info, "pool_id", None) or info.get("pool_id")
        batch["pool"] = pool_id
        extra: dict = {"batch": batch}
        sched = getattr(bjob.execution_info, "scheduling_error", None)
        waiting_code = sched.code if sched is not None and sched.code else None
        if pool_id and not waiting_code:
            try:
                pool = self.client.get_pool(pool_id)
                errors = [e.code for e in (pool.resize_errors or []) if e.code]
                batch["nodes"] = {"dedicated": pool.current_dedicated_nodes, "spot": pool.current_low_priority_nodes,
                                  "target_dedicated": pool.target_dedicated_nodes,
                                  "target_spot": pool.target_low_priority_nodes}
                if errors:
                    batch["resize_errors"] = errors
                    current = (pool.current_dedicated_nodes or 0) + (pool.current_low_priority_nodes or 0)
                    if current == 0 or any("Quota" in c for c in errors):
                        waiting_code = errors[0]
                batch["pool_state"] = _s(pool.state)
            except ResourceNotFoundError:
                batch["pool_state"] = "deleted"
        if waiting_code and batch["state"] == "completed":
            # The auto pool was never created and Batch completed the job: its runs will never start.
            batch["pool_error"] = waiting_code
            detail = getattr(sched, "message", "") or ""
            self._fail_unstarted(job_id, f"the auto pool could not be created: {waiting_code}"
                                         + (f": {detail}" if detail else ""))
        elif waiting_code:
            from launcher.azure.errors import QUOTA_CODES

            kind = "quota" if waiting_code in QUOTA_CODES or "Quota" in waiting_code else "nodes"
            extra["waiting"] = f"waiting: {kind} ({waiting_code})"
        if pool_id and batch.get("pool_state") not in (None, "deleted") and batch["state"] != "completed":
            unusable = self._start_task_failures(pool_id)
            if unusable:
                batch["start_task_failed"] = unusable
                total = (batch.get("nodes") or {})
                usable = (total.get("dedicated") or 0) + (total.get("spot") or 0) - len(unusable)
                if usable <= 0:
                    # Batch schedules nothing to a startTaskFailed node: no run can ever start, and the nodes
                    # bill until max_wall_clock. Say it instead of showing "queued".
                    self._fail_unstarted(job_id, f"the start task failed on every node ({unusable[0]['error']}); "
                                                 "fix `setup`/`requirements` of the target")
                    extra["note"] = (f"the start task failed on all {len(unusable)} node(s) of pool {pool_id}; the "
                                     f"Batch job still holds them: `launcher cancel {job}` stops it")
        self._reconcile_runs(job_id)
        if batch["state"] == "completed" and info.get("state") != "completed":
            info.update(state="completed", pool_id=pool_id)
            self.store.write_json(batch_key(job), info)
        if batch.get("hold") and batch.get("pool_state") not in (None, "deleted"):
            extra["note"] = (f"pool {pool_id} is held after the job (hold: true); delete it with "
                             f"`launcher pool delete {job}`")
        return extra

    def _start_task_failures(self, pool_id: str) -> list[dict]:
        """Nodes in startTaskFailed (the start task failed every attempt: Batch schedules nothing to them), each
        with its exit code and failure message. Read with one filtered list call."""
        out = []
        try:
            nodes = self.client.list_nodes(pool_id, filter="state eq 'starttaskfailed'",
                                           select=["id", "state", "startTaskInfo"])
            for node in nodes:
                info = node.start_task_info
                failure = getattr(info, "failure_info", None)
                error = (f"exit code {getattr(info, 'exit_code', None)}"
                         + (f", {failure.code}: {failure.message}" if failure is not None else ""))
                out.append({"node": node.id, "error": error})
        except Exception:  # noqa: BLE001 - node states are a diagnosis, not the job's truth
            return []
        return out

    def _record(self, job: str, run: str) -> dict | None:
        rec = self.store.read_json(R.run_key(run))
        if rec is None:  # not started: implied by the plan
            from launcher.backends.base import implied_child_record

            if job not in self._plans:
                self._plans[job] = self.store.read_json(R.job_key(job, "plan.json")) or {}
            rec = implied_child_record(self._plans[job], run)
        return rec

    def _fail_unstarted(self, job_id: str, message: str) -> None:
        job = self._job_of(job_id)
        for task in self.client.list_tasks(job_id, filter="state ne 'completed'", select=["id", "state"]):
            run = run_of_task(task.id)
            rec = self._record(job, run)
            if rec and rec.get("status") == R.QUEUED:
                rec.update(status=R.FAILED, ended=R.now_iso(), error=f"Batch: {message}")
                self.store.write_json(R.run_key(run), rec)

    def _job_of(self, job_id: str) -> str:
        return self._jobs_by_batch_id.get(job_id, job_id)

    def _reconcile_runs(self, job_id: str) -> None:
        """Batch's view of failed and requeued tasks folded into the run records, at a cost that does not grow
        with the job: one get_job_task_counts per look, and a filtered list only when the number of failed tasks
        changed (learn.microsoft.com/azure/batch/batch-efficient-list-queries: filter and select, never list
        everything), plus one filtered list of requeued tasks while tasks are active."""
        job = self._job_of(job_id)
        counts = self.client.get_job_task_counts(job_id).task_counts
        if counts.failed != self._failed_seen.get(job_id, 0):
            for task in self.client.list_tasks(job_id, filter="executionInfo/result eq 'failure'",
                                               select=["id", "state", "executionInfo"]):
                run = run_of_task(task.id)
                rec = self._record(job, run)
                ex = task.execution_info
                if not rec or _s(task.state) != "completed" or rec.get("status") not in (R.QUEUED, R.RUNNING):
                    continue
                failure = getattr(ex, "failure_info", None)
                if failure is None and rec.get("status") == R.RUNNING:
                    continue  # the agent's last write is on its way
                msg = f"{failure.code}: {failure.message}" if failure is not None else "the task ended without a report"
                rec.update(status=R.FAILED, ended=R.now_iso(), exit_code=getattr(ex, "exit_code", None),
                           error=f"Batch: {msg}")
                self.store.write_json(R.run_key(run), rec)
            self._failed_seen[job_id] = counts.failed
        if counts.active and _may_have_lost_runs(self.store, job):
            for task in self.client.list_tasks(job_id, filter="state eq 'active' and executionInfo/requeueCount gt 0",
                                               select=["id", "state"]):
                run = run_of_task(task.id)
                rec = self.store.read_json(R.run_key(run))
                if rec and rec.get("status") == R.LOST:
                    rec.update(status=R.QUEUED, ended=None, error="", previous_error="requeued by Batch")
                    self.store.write_json(R.run_key(run), rec)


def _may_have_lost_runs(store, job: str) -> bool:
    """Only a lost run can be requeued by Batch: the job's summary says whether there is one, without a list."""
    from launcher.jobs import summary as S

    counted = store.read_json(S.summary_key(job))
    return not counted or bool((counted.get("counts") or {}).get(R.LOST, 1))


def _s(value) -> str:
    """An SDK enum member as its service string ('completed'), None as ''."""
    return "" if value is None else str(getattr(value, "value", value))
