"""hp_handler's contract: three-line hyperparameters, tuned values, or downloaded_hp_config.yaml under XT."""
import os

import yaml


class HyperparameterHandler:
    def __init__(self):
        self.xt_run = None
        self.in_hp_search = False
        self.chosen = {}
        if os.getenv("XT_RUN_NAME"):
            from xtlib.run import Run as XTRun
            self.xt_run = XTRun()
            self.in_hp_search = os.path.isfile("downloaded_hp_config.yaml")

    def preprocess(self, lines):
        lines = list(lines)
        out, i = [], 0
        while i < len(lines):
            line = lines[i]
            if line.strip().startswith("- name: &"):
                name = line.split("&", 1)[1].strip()
                tuned = lines[i + 2].split()[1]
                self.chosen[name] = yaml.safe_load(tuned)
                out += [line, "      __{}__\n".format(name)]
                i += 3
                continue
            out.append(line)
            i += 1
        if self.in_hp_search:
            with open("downloaded_hp_config.yaml") as fh:
                runset = yaml.load(fh, Loader=yaml.SafeLoader)["hyperparameter-runset"]
            assert len(runset) == len(self.chosen)
            self.chosen.update(runset)
        text = "".join(out)
        for name, value in self.chosen.items():
            text = text.replace("__{}__".format(name), yaml.safe_dump(value, default_flow_style=True).strip()
                                .removesuffix("...").strip())
        return text

    def log_chosen_values(self, logger):
        if self.chosen:
            logger.write_line("Chosen hyperparameter values:")
            for name, value in self.chosen.items():
                logger.write_line("  {}: {}".format(name, value))
            logger.write_line("")
            if self.xt_run:
                self.xt_run.log_hparams(dict(self.chosen))
