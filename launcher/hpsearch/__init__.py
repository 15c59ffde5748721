"""Adaptive hyperparameter searches (hp_tuning: dgd, bayesian): runs pull their assignment when they start.

    space.py     the search space recorded in the plan (names, values, ordered or not)
    estimate.py  what a configuration is worth given its runs so far (shrunk means: "EST HPMAX")
    dgd.py       Distributed Grid Descent (Working Memory Graphs, Appendix B)
    bayesian.py  Optuna's TPE sampler, asked afresh from the recorded results (ask/tell)
    assign.py    the atomic step in the store: the next assignment of a run, recorded in jobs/<job>/search.jsonl
    analysis.py  BEST FOR / EST HPMAX / RUNS after each completed run (`launcher search JOB`)

Random and grid searches stay fixed in the plan (launcher/jobs/plan.py).
"""

ADAPTIVE_METHODS = ("dgd", "bayesian")
