"""rl_nexus's run.py contract: python run.py SPEC [--key value ...] from inside rl_nexus/."""
import argparse
import io
import os

import yaml

from rl_nexus.utils.hp_handler import HyperparameterHandler
from rl_nexus.utils.yaml_utils import expand_dict
from rl_nexus.components.root.Root_Component import Root_Component


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_spec_path")
    _, unknown = parser.parse_known_args()
    for arg in unknown:
        if arg.startswith("-"):
            parser.add_argument(arg)
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    hp_handler = HyperparameterHandler()
    spec = yaml.safe_load(io.StringIO(hp_handler.preprocess(open(args.run_spec_path))))
    replacements = spec.get("string_replacements") or {}
    replacements["$datastore"] = (os.getenv("XT_DATA_DIR") or "../datastore").rstrip("/")
    for key, value in vars(args).items():
        if key != "run_spec_path":
            replacements["<{}>".format(key)] = value
    root = Root_Component(expand_dict(spec, replacements), args.run_spec_path, hp_handler)
    if root.job_launcher:
        raise SystemExit("this test project does not launch by itself")
    root.execute_processing_stages()
