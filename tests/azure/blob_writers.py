"""Several writers of one Blob store at once (as agents on several nodes), for the tests of what their
compare-and-swap keeps exact: the job summary, the run index."""

from __future__ import annotations

import random
import threading
import uuid


def blob_store(azurite, url: str | None = None):
    """An AzureBlobStore on Azurite: a new container, or one more store object on `url`'s."""
    from azure.core.credentials import AzureNamedKeyCredential

    from launcher.store.azure_blob import AzureBlobStore

    return AzureBlobStore(url or f"{azurite.account_url}/s{uuid.uuid4().hex[:12]}",
                          AzureNamedKeyCredential(azurite.account_name, azurite.account_key))


def race(writers: list, step, rounds: int) -> list[BaseException]:
    """Each writer runs step(writer, rng) `rounds` times in a thread of its own, all starting together (rng seeded
    by the writer's place); returns what the writers raised."""
    barrier = threading.Barrier(len(writers))
    errors: list[BaseException] = []

    def work(writer, seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        try:
            for _ in range(rounds):
                step(writer, rng)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w, n)) for n, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors
