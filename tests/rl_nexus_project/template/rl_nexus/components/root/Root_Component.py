import importlib
import os

import yaml

from rl_nexus.utils.nexus_logger import logger


class Root_Component:
    def __init__(self, spec, run_spec_path, hp_handler):
        self.spec = spec
        self.hp_handler = hp_handler
        self.experiment_path = spec["experiment_path"]
        logger.add_output_file("console.txt")
        logger.add_output_file(os.path.join(self.experiment_path, "console.txt"))
        jl = spec.get("job_launcher") or {}
        self.job_launcher = None if os.getenv("XT_RUN_NAME") or not jl.get("enabled") else jl
        repro = {k: v for k, v in spec.items() if k not in ("job_launcher", "hyperparameters",
                                                            "string_replacements", "forward_definitions")}
        for path in ("repro_spec.yaml", os.path.join(self.experiment_path, "repro_spec.yaml")):
            with open(path, "w") as fh:
                yaml.safe_dump(repro, fh, sort_keys=False)

    def execute_processing_stages(self):
        self.hp_handler.log_chosen_values(logger)
        stages = self.spec["processing_stages"]
        for i, item in enumerate(stages):
            logger.stage_num = i + 1
            logger.write_line("Processing stage {} of {}".format(i + 1, len(stages)))
            settings = item["processing_stage"]
            if not settings.get("enabled", 1):
                logger.write_line("(not enabled)\n")
                continue
            category, name = settings["component"].split("/")
            module = importlib.import_module("rl_nexus.components.{0}.{1}.{1}".format(category, name))
            logger.write_line("{}:  Started".format(name))
            getattr(module, name)(settings).execute()
            logger.write_line("{}:  Completed\n".format(name))
        logger.finish_run()
        logger.write_line("All processing stages completed.")
