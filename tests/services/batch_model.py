"""The entities of the Batch test server: pools with their simulated nodes, jobs and their tasks.

Plain state with a few derived properties; the rules that change it live in batch_service.py and
the REST shapes in batch_rest.py.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .batch_wire import now


@dataclass(eq=False)
class Node:
    pool: Pool
    index: int
    id: str
    dedicated: bool
    slots: int
    created: datetime = field(default_factory=now)
    running: list[Task] = field(default_factory=list)
    down_until: float = 0.0  # monotonic time until which a preempted node is away
    total_tasks_run: int = 0
    total_tasks_succeeded: int = 0
    #: the REST state (BatchNodeState) while the pool's start task runs with waitForSuccess
    #: ("waitingforstarttask"), or after it failed every attempt ("starttaskfailed": unusable, no task is
    #: scheduled to it); None when the node takes tasks
    start_state: str | None = None
    start_task_info: dict | None = None
    root: Path | None = None  # the node's folder (nodes/<id>)
    start_process: subprocess.Popen | None = None

    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    def free_slots(self) -> int:
        if self.is_down() or self.start_state is not None:
            return 0
        return self.slots - sum(task.required_slots for task in self.running)

    @property
    def state(self) -> str:
        if self.is_down():
            return "preempted"
        if self.start_state is not None:
            return self.start_state
        return "running" if self.running else "idle"


@dataclass(eq=False)
class Pool:
    id: str
    spec: dict
    auto: bool = False
    keep_alive: bool = True
    state: str = "active"
    created: datetime = field(default_factory=now)
    modified: datetime = field(default_factory=now)
    target_dedicated: int = 0
    target_low_priority: int = 0
    slots_per_node: int = 1
    resize_errors: list[dict] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    node_counter: itertools.count = field(default_factory=itertools.count)

    @property
    def fill_type(self) -> str:
        return ((self.spec.get("taskSchedulingPolicy") or {}).get("nodeFillType") or "spread").lower()

    def pick_node(self, slots: int) -> Node | None:
        candidates = [node for node in self.nodes if node.free_slots() >= slots]
        if not candidates:
            return None
        if self.fill_type == "pack":
            return min(candidates, key=lambda n: (n.free_slots(), n.index))
        return max(candidates, key=lambda n: (n.free_slots(), -n.index))


@dataclass(eq=False)
class Job:
    id: str
    spec: dict
    seq: int
    created: datetime = field(default_factory=now)
    modified: datetime = field(default_factory=now)
    state: str = "active"
    state_time: datetime = field(default_factory=now)
    previous_state: str | None = None
    previous_state_time: datetime | None = None
    pool_id: str | None = None
    end_time: datetime | None = None
    terminate_reason: str | None = None
    scheduling_error: dict | None = None
    tasks: dict[str, Task] = field(default_factory=dict)  # lower-case id -> task, in creation order
    queue: list = field(default_factory=list)  # heap of (seq, task) for active tasks
    running: int = 0
    deadline: float | None = None  # monotonic; job maxWallClockTime

    def set_state(self, state: str) -> None:
        self.previous_state, self.previous_state_time = self.state, self.state_time
        self.state, self.state_time = state, now()
        self.modified = self.state_time

    @property
    def on_all_tasks_complete(self) -> str:
        return (self.spec.get("onAllTasksComplete") or "noaction").lower()

    @property
    def on_task_failure(self) -> str:
        return (self.spec.get("onTaskFailure") or "noaction").lower()


@dataclass(eq=False)
class Task:
    job: Job
    id: str
    spec: dict
    seq: int
    created: datetime = field(default_factory=now)
    modified: datetime = field(default_factory=now)
    state: str = "active"
    state_time: datetime = field(default_factory=now)
    previous_state: str | None = None
    previous_state_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_code: int | None = None
    failure_info: dict | None = None
    result: str | None = None
    retry_count: int = 0
    requeue_count: int = 0
    last_retry_time: datetime | None = None
    last_requeue_time: datetime | None = None
    node: Node | None = None
    node_info: dict | None = None
    task_dir: Path | None = None
    process: subprocess.Popen | None = None
    kill_reason: str | None = None

    @property
    def required_slots(self) -> int:
        return int(self.spec.get("requiredSlots") or 1)

    def set_state(self, state: str) -> None:
        self.previous_state, self.previous_state_time = self.state, self.state_time
        self.state, self.state_time = state, now()
        self.modified = self.state_time
