"""What the CLI calls a file operation the machine refused (a clear error, exit 1) and what stays a bug (exit 3)."""

from __future__ import annotations

import errno

from launcher import cli


def test_refused_file_operations_are_the_users_to_fix():
    for exc in (PermissionError(errno.EACCES, "Permission denied", "/store/jobs"),
                OSError(errno.ENOSPC, "No space left on device", "/store/runs/run1.1/run.json"),
                NotADirectoryError(errno.ENOTDIR, "Not a directory", "/store/locks/jobs"),
                OSError(errno.EROFS, "Read-only file system", "/store")):
        assert cli._file_refused(exc), exc
        error = cli.os_error(exc)
        assert error.message.startswith(exc.filename + ": ") and exc.strerror in error.message
        assert "can be written" in error.hint


def test_network_errors_timeouts_and_errors_without_a_path_stay_internal():
    for exc in (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), TimeoutError("timed out"),
                OSError(errno.EIO, "Input/output error", "/dev/sda"), OSError("no errno at all"),
                PermissionError(errno.EACCES, "Permission denied"), ValueError("not an OSError")):
        assert not cli._file_refused(exc), exc
