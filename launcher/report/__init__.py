"""Reporters: render stage results as text (terminal), JSON (machines), GitHub (annotations and step
summary) and Markdown (PR comment, ledger). Stages return results; only reporters write output."""
