"""Real local stand-ins for Azure services, for tests: Azurite and a Batch-compatible test server.

Import from a conftest.py (tests/ is on sys.path under pytest):

    from services.azurite import azurite            # noqa: F401  (session fixture)
    from services.batch_server import batch_server  # noqa: F401  (per-test fixture)
    from services.batch_server import BatchTestServer

See docs/test-harness.md.
"""
