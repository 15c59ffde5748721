"""Results read back from the store: learning curves per run, aggregated per group, hpmax per hyperparameter."""
