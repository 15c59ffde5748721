"""Azure plumbing shared by the Azure Batch backend and the Azure Blob store.

settings.py (the azure-batch target's settings), credentials.py (azure-identity, lazily), errors.py (SDK errors
to LauncherErrors), sas.py (scoped, expiring SAS URLs), bundle.py (the launcher shipped to the nodes) and
node_agent.py (what a Batch task runs). Only functions import the Azure SDK, never a module's top level.
"""
