"""Scoped, expiring SAS URLs for what a Batch task may touch, and nothing else.

* the code snapshot and the launcher bundle: a read-only SAS on that one blob each (resource files);
* the plan, the launched runspec and the job record, for the agent: a read-only SAS on each of those blobs;
* the job's results, for the agent: a container SAS with read, add, create and write on the job's own results
  container `<container>-<job>` (store/job_containers.py), without delete and without list. Blob SAS cannot be
  scoped to a prefix (one blob each), and directory SAS (sr=d) needs a hierarchical-namespace account, so the
  job's writable keys get a container of their own;
* Batch output files (stdout/stderr backstop): a container SAS on the same results container, create + write.

Every SAS expires with the job's wall-clock limit (+1 h).

With a Shared Key the SAS is signed with the account key; with Entra ID it is a user delegation SAS (the
identity needs 'Storage Blob Delegator'). A SAS is handed to Batch in resource files and environment settings,
never on a command line, and never printed (errors.redact scrubs it).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

#: Clock skew between this machine and Storage: a SAS starts a little in the past.
SKEW = timedelta(minutes=5)


class SasSigner:
    def __init__(self, store) -> None:
        self.store = store
        self._udk = None
        self._udk_expiry = None

    def _signing(self, expiry: datetime) -> dict:
        cred = self.store.credential
        key = getattr(getattr(cred, "named_key", None), "key", None)
        if key:
            return {"account_key": key}
        if isinstance(cred, dict) and cred.get("account_key"):
            return {"account_key": cred["account_key"]}
        if self._udk is None or self._udk_expiry < expiry:
            from azure.storage.blob import BlobServiceClient

            account_url = self.store.url.rsplit("/", 1)[0]
            service = BlobServiceClient(account_url, credential=cred)
            start = datetime.now(timezone.utc) - SKEW
            self._udk = service.get_user_delegation_key(start, expiry)
            self._udk_expiry = expiry
        return {"user_delegation_key": self._udk}

    @property
    def account(self) -> str:
        from launcher.azure.settings import account_from_url

        return account_from_url(self.store.url.rsplit("/", 1)[0])

    @property
    def container(self) -> str:
        return self.store.url.rsplit("/", 1)[1]

    def blob_url(self, key: str, *, expiry: datetime, permission: str = "r") -> str:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        sas = generate_blob_sas(self.account, self.container, key, permission=BlobSasPermissions.from_string(permission),
                                expiry=expiry, start=datetime.now(timezone.utc) - SKEW, **self._signing(expiry))
        return f"{self.store.url}/{quote(key)}?{sas}"

    def container_url(self, *, expiry: datetime, permission: str, container: str | None = None) -> str:
        """A container SAS URL: the store's container, or another container of the same account (the
        datastore, mounted read-only on the nodes)."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        name = container or self.container
        sas = generate_container_sas(self.account, name,
                                     permission=ContainerSasPermissions.from_string(permission), expiry=expiry,
                                     start=datetime.now(timezone.utc) - SKEW, **self._signing(expiry))
        return f"{self.store.url.rsplit('/', 1)[0]}/{name}?{sas}"


def expiry_after(duration: timedelta, margin: timedelta = timedelta(hours=1)) -> datetime:
    return datetime.now(timezone.utc) + duration + margin
