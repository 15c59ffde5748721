"""The runtime's parts: report line format, truncation, comparison, the demo workload."""

from __future__ import annotations

import io
from collections import deque
from pathlib import Path

from rt_helpers import REPO, TEST_COMPONENTS

from launcher.runtime.console import Console
from launcher.runtime.executor import LocalRun, RunInput
from launcher.runtime.loader import ComponentLoader, ComponentNotFound
from launcher.runtime.metrics import Metric, Reporter
from launcher.smoke import diff_values, smoke_scalable, truncate

BUILTINS = REPO / "launcher" / "components"


def _context(tmp_path: Path, stream) -> LocalRun:
    return LocalRun(RunInput(data={}), ComponentLoader([BUILTINS]), Console(stream), tmp_path, run_seed=1)


def test_report_line_has_rl_nexus_format(tmp_path):
    stream = io.StringIO()
    run = _context(tmp_path, stream)
    run.started -= 0.002 * 3600  # 0.002 hours into the run
    rep = Reporter(run, 1, "processors/RL_Proc")
    rep.define(Metric("rew", "reward per step", "{:7.5f}"), Metric("win", "win rate", "{:7.5f}"))
    rep.report(1000, {"rew": 0.002, "win": 0.11765}, saved=True)
    assert stream.getvalue() == "  0.002 hrs         1,000 iters      0.00200 rew      0.11765 win    SAVED\n"
    rep.report(2000, {"rew": 0.004, "win": float("nan")})
    assert stream.getvalue().splitlines()[-1].endswith("0.00400 rew          n/a win")
    assert rep.lifetime("rew") == 0.003 and rep.lifetime("win") == 0.11765  # a period without data is skipped
    assert rep.last_values() == {"rew": 0.004, "win": None}


def test_max_aggregate_keeps_the_best_report(tmp_path):
    run = _context(tmp_path, None)
    rep = Reporter(run, 1, "x/Y")
    rep.define(Metric("acc", "accuracy", aggregate="max"))
    for x, v in ((1, 0.2), (2, 0.7), (3, 0.5)):
        rep.report(x, {"acc": v})
    assert rep.lifetime("acc") == 0.7


def test_smoke_scalable_is_read_without_importing():
    assert smoke_scalable(BUILTINS / "processors" / "RL_Proc" / "RL_Proc.py", "RL_Proc") == \
        ("max_iterations", "iters_per_report")
    boom = TEST_COMPONENTS / "processors" / "Boom_Proc" / "Boom_Proc.py"
    assert smoke_scalable(boom, "Boom_Proc") == ("fail_at",)
    assert smoke_scalable(boom, "Other") == ()
    assert smoke_scalable(None, "X") == ()


def test_truncate_scales_every_enabled_stage_and_its_knobs():
    boom_yaml = TEST_COMPONENTS / "processors" / "Boom_Proc" / "Boom_Proc.yaml"
    data = {"job_launcher": {"component": "job_launchers/XT", "enabled": True},
            "processing_stages": [
                {"processing_stage": {"component": "processors/Boom_Proc", "max_iterations": 100,
                                      "iters_per_report": 10, "fail_at": 50}},
                {"processing_stage": {"component": "processors/Boom_Proc", "enabled": False,
                                      "max_iterations": 100, "iters_per_report": 10, "fail_at": 50}},
                {"processing_stage": {"component": "processors/Boom_Proc", "max_iterations": 10,
                                      "iters_per_report": 5, "fail_at": 7}}]}
    changes = truncate(data, 20, {"processors/Boom_Proc": boom_yaml})
    first, skipped, short = (s["processing_stage"] for s in data["processing_stages"])
    assert data["job_launcher"]["enabled"] is False
    assert (first["max_iterations"], first["iters_per_report"], first["fail_at"]) == (20, 2, 10)
    assert skipped["max_iterations"] == 100  # disabled stages are left alone
    assert short == {"component": "processors/Boom_Proc", "max_iterations": 10, "iters_per_report": 5, "fail_at": 7}
    assert [str(c) for c in changes] == [
        "$.job_launcher.enabled: True -> False",
        "$.processing_stages[0].processing_stage.max_iterations: 100 -> 20",
        "$.processing_stages[0].processing_stage.iters_per_report: 10 -> 2",
        "$.processing_stages[0].processing_stage.fail_at: 50 -> 10"]


def test_diff_values_lists_changed_leaves():
    a = {"x": 1, "l": [1, {"y": 2}], "only_a": 0}
    b = {"x": 1, "l": [1, {"y": 3}], "only_b": True}
    assert diff_values(a, b) == [("$.l[1].y", 2, 3), ("$.only_a", 0, "<missing>"), ("$.only_b", "<missing>", True)]
    assert diff_values({"v": 1}, {"v": True}) == [("$.v", 1, True)]  # 1 and true are different settings


def test_loader_names_the_places_it_looked(tmp_path):
    loader = ComponentLoader([tmp_path, BUILTINS])
    try:
        loader.code_path("processors/Nope")
    except ComponentNotFound as exc:
        assert "component processors/Nope not found: looked for" in exc.message
        assert "Nope/Nope.py" in exc.message and "add the folder" in exc.hint
    else:
        raise AssertionError("expected ComponentNotFound")
    assert loader.load("processors/RL_Proc").__name__ == "RL_Proc"


def _maze(size: int, run: LocalRun):
    from launcher.runtime.component import Settings

    cls = run.loader.load("environments/Maze_Env")
    spec = {"component": "environments/Maze_Env", "size": size, "maze_seed": 3, "agent_placement_seed": 5,
            "max_episode_steps": 30}
    return cls(Settings(spec["component"], spec), run, "$.env")


def test_maze_is_a_connected_grid(tmp_path):
    env = _maze(6, _context(tmp_path, None))
    seen, todo = {env.goal}, deque([env.goal])
    while todo:  # every cell reaches the goal: moves are symmetric in a carved maze
        cell = todo.popleft()
        for nxt in env.transitions[cell]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert len(seen) == 36
    starts = {env.reset() for _ in range(200)}
    assert env.goal not in starts and len(starts) > 20


def test_q_learning_learns_the_maze(tmp_path):
    from launcher.runtime.component import Settings

    run = _context(tmp_path, None)
    run.reporter = Reporter(run, 1, "processors/RL_Proc")
    cls = run.loader.load("processors/RL_Proc")
    spec = {"component": "processors/RL_Proc", "environment": {"component": "environments/Maze_Env", "size": 5,
            "maze_seed": 1, "agent_placement_seed": 2, "max_episode_steps": 50}, "max_iterations": 30000,
            "iters_per_report": 3000, "train": True, "save_model_to": str(tmp_path / "m.json"),
            "load_model_from": None, "learning_rate": 0.2, "discount_factor": 0.95, "exploration_rate": 0.05}
    proc = cls(Settings(spec["component"], spec), run, "$.s")
    proc.execute()
    last = run.reporter.last_values()
    assert last["win"] == 1.0 and last["rew"] > 0.05
    assert (tmp_path / "m.json").is_file()


def test_the_runtime_package_has_no_import_circle():
    """executor -> component, metrics, loader -> context: every import of launcher.runtime modules, including
    those for annotations only, goes one way."""
    import ast

    runtime = Path(__file__).resolve().parents[2] / "launcher" / "runtime"
    graph = {}
    for path in runtime.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("launcher.runtime."):
                deps.add(node.module.rsplit(".", 1)[1])
        graph[path.stem] = deps

    def reaches(start, goal, seen=()):
        return any(d == goal or (d not in seen and reaches(d, goal, (*seen, d))) for d in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m)] == []
