"""Drop-in `xtlib.run.Run`: the surface rl_nexus code calls (utils/nexus_logger.py, ope_logger.py,
hp_handler.py), recorded into the run's metrics instead of XT's services, which are never called.

What XT's Run.log_metrics does with its arguments (xtlib/run.py, ExperimentTools 1.0): the step is
data_dict[step_name] when present (else a running report count under the name "$index"); with a stage, every
other name becomes "<stage>-<name>" (rl_nexus passes stage='s1', so `rew` is the column `s1-rew`). Each call
is appended as one JSON line to $LAUNCHER_XT_METRICS, the file the launcher's agent reads like the built-in
components' metrics.jsonl: {"stage": "s1" | null, "iteration": step, "step_name": ..., "metrics": {...}}.
"""

import json
import math
import os
import time

INDEX = "$index"  # XT's constants.INDEX: the step name of reports without one


class Run:
    def __init__(self, config=None, store=None, xt_logging=True, aml_logging=True, checkpoints_enabled=True,
                 tensorboard_path=None, supress_normal_output=False):
        self.ws_name = os.getenv("XT_WORKSPACE_NAME")
        self.exper_name = os.getenv("XT_EXPERIMENT_NAME")
        self.run_name = os.getenv("XT_RUN_NAME")
        self.resume_name = os.getenv("XT_RESUME_NAME")
        self.store = None  # no XT store: nothing here talks to XT's services
        self.context = None
        self.config = config
        self.xt_logging = bool(xt_logging and self.run_name)
        self.metric_report_count = 0
        self.metric_names = {}
        self._path = os.getenv("LAUNCHER_XT_METRICS")

    # -- what rl_nexus calls -------------------------------------------------------------------------------
    def log_metrics(self, data_dict, step_name=None, stage=None):
        dd = dict(data_dict)
        if step_name and step_name in dd:
            step = dd.pop(step_name)
        else:
            self.metric_report_count += 1
            step, step_name = self.metric_report_count, INDEX
        for name in dd:
            self.metric_names.setdefault(f"{stage}-{name}" if stage else name, 1)
        self._write({"stage": stage, "iteration": _plain(step), "step_name": step_name,
                     "metrics": {k: _plain(v) for k, v in dd.items()}})

    def log_hparams(self, data_dict):
        self._write({"hparams": {k: _plain(v) for k, v in dict(data_dict).items()}})

    def log_hparam(self, name, value):
        self.log_hparams({name: value})

    def log_event(self, event_name, data_dict):
        self._write({"event": str(event_name), "data": {k: _plain(v) for k, v in dict(data_dict).items()}})

    def tag_job(self, tag_dict):
        self._write({"tags": {"job": {k: _plain(v) for k, v in dict(tag_dict).items()}}})

    def tag_run(self, tag_dict):
        self._write({"tags": {"run": {k: _plain(v) for k, v in dict(tag_dict).items()}}})

    # -- the rest of XT's Run, as it behaves without an XT store -------------------------------------------
    def get_store(self):
        return None

    def is_resuming(self):
        return bool(self.resume_name)

    def get_checkpoint(self, fn_cp_dest=None):
        return None

    def set_checkpoint(self, dict_cp, fn_cp=None):
        return False

    def clear_checkpoint(self):
        return False

    def close(self):
        pass

    def upload_files_to_share(self, *args, **kwargs):
        raise NotImplementedError("xtlib.run.Run.upload_files_to_share: XT shares do not exist under the launcher; "
                                  "read data from $datastore (XT_DATA_DIR) and write results under ../results")

    download_files_from_share = upload_files_to_share

    def get_next_hp_set_in_search(self, *args, **kwargs):
        raise NotImplementedError("xtlib.run.Run.get_next_hp_set_in_search: the launcher chooses a run's "
                                  "hyperparameters before it starts (downloaded_hp_config.yaml)")

    # -------------------------------------------------------------------------------------------------------
    def _write(self, row):
        if not self._path:
            return
        row["time"] = time.time()
        with open(self._path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def _plain(v):
    """JSON-able: numpy and torch scalars have .item(); NaN becomes null."""
    if hasattr(v, "item") and callable(v.item):
        try:
            v = v.item()
        except (TypeError, ValueError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)
