"""The console: every runtime line goes to a stream (stdout, or stderr under --format json) and to
<experiment_path>/console.txt, flushed per line so a mirrored or tailed console is live."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO


class Console:
    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self._file: TextIO | None = None
        self._early: list[str] = []  # lines printed before experiment_path is known

    def open_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", encoding="utf-8", newline="\n")  # truncated, as rl_nexus does
        for text in self._early:
            self._file.write(text + "\n")
        self._early.clear()
        self._file.flush()

    def line(self, text: str = "") -> None:
        if self.stream is not None:
            self.stream.write(text + "\n")
            self.stream.flush()
        if self._file is not None:
            self._file.write(text + "\n")
            self._file.flush()
        else:
            self._early.append(text)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
