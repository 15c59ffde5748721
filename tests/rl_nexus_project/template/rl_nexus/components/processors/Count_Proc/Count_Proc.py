from rl_nexus.utils.nexus_logger import logger


class Count_Proc:
    def __init__(self, settings):
        self.settings = settings

    def execute(self):
        offset = 0.0
        if self.settings["offset_from"]:
            with open(self.settings["offset_from"]) as fh:
                offset = float(fh.read().strip())
            logger.write_line("read offset {} from the datastore".format(offset))
        total, n = 0.0, 0
        every = self.settings["iters_per_report"]
        for it in range(every, self.settings["max_iterations"] + 1, every):
            rew = self.settings["rate"] + offset
            total, n = total + rew, n + 1
            logger.report(it, {"rew": rew})
        logger.summarize_stage("reward", total / max(n, 1))
