"""runspec-launcher: validate, smoke-run, launch and record rl_nexus runspecs."""

__version__ = "0.1.0"
