"""The folder put on a run's PYTHONPATH so that `import xtlib` finds the drop-in (see xtlib/run.py)."""
