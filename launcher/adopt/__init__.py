"""`launcher init`: adopt the launcher in a repository (what to write there, and how to upgrade it later).

layout.py detects the repository's layout; pyproject.py, workflow.py and gitignore.py each compute one file's
new text; plan.py gathers them into a plan that is shown (a diff) or applied; changes.py is the config schema's
history, which `init --upgrade` reports and the config loader uses for deprecated keys.
"""
