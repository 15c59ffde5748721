"""Console lines and metric reports, logged to XT through xtlib.run when XT_RUN_NAME is set."""
import os


class NexusLogger:
    def __init__(self):
        self.files = []
        self.stage_num = 0
        self.last = None
        self.last_iters = 0
        self.xt_run = None
        if os.getenv("XT_RUN_NAME"):
            from xtlib.run import Run as XTRun
            self.xt_run = XTRun()

    def add_output_file(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        open(path, "w").close()
        self.files.append(os.path.abspath(path))

    def write_line(self, line):
        print(line, flush=True)
        for path in self.files:
            with open(path, "a") as fh:
                fh.write(line + "\n")

    def report(self, iters, values):
        self.last_iters = iters
        self.write_line("{:12,d} iters".format(iters) + "".join("      {:7.5f} {}".format(v, k)
                                                                  for k, v in values.items()))
        if self.xt_run:
            data = dict(values, hrs=0.0, iters=iters)
            self.xt_run.log_metrics(data_dict=data, step_name="iters", stage="s{}".format(self.stage_num))

    def summarize_stage(self, name, value):
        self.write_line("Stage summary (mean {}):  {:7.5f}".format(name, value))
        self.last = (self.stage_num, name, value)

    def finish_run(self):
        if self.last:
            stage, name, hpmax = self.last
            if self.xt_run:
                self.xt_run.log_metrics(data_dict={"iters": self.last_iters, "hpmax": hpmax}, step_name="iters")
                self.xt_run.tag_job({"plotted_metric": "s{}-{}".format(stage, name)})
            self.write_line("Objective that would be maximized by hyperparameter tuning (hpmax):  {:7.5f}\n"
                            .format(hpmax))


logger = NexusLogger()
