"""Tabular Q-learning on an environment with numbered states (the built-in Maze_Env).

Every iters_per_report steps it reports the mean reward per step (`rew`, the stage objective) and the share
of episodes that reached the goal (`win`). With train: false it acts greedily and learns nothing, which is
how the walk-through evaluates and tests a model saved by an earlier stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from launcher.runtime import Component, ComponentError, Metric
from launcher.runtime.files import write_text_atomic

MODEL_FORMAT = "launcher-tabular-q/1"


class RL_Proc(Component):
    SMOKE_SCALABLE = ("max_iterations", "iters_per_report")

    def setup(self) -> None:
        s = self.settings
        self.max_iterations = _positive_int(s, "max_iterations")
        self.iters_per_report = _positive_int(s, "iters_per_report")
        self.train = bool(s["train"])
        self.alpha = float(s["learning_rate"])
        self.gamma = float(s["discount_factor"])
        self.epsilon = float(s["exploration_rate"]) if self.train else 0.0
        self.env = self.create("environment")
        if self.env is None:
            raise ComponentError("RL_Proc needs an environment")
        self.q = [[0.0] * self.env.num_actions for _ in range(self.env.num_states)]
        if s["load_model_from"]:
            self._load(Path(s["load_model_from"]))

    def execute(self) -> None:
        self.reporter.define(Metric("rew", "reward per step"),
                             Metric("win", "win rate"))
        self.state = self.env.reset()
        done_iters = 0
        while done_iters < self.max_iterations:
            n = min(self.iters_per_report, self.max_iterations - done_iters)
            reward, episodes, wins = self.run_period(n)
            done_iters += n
            self.reporter.report(done_iters, {"rew": reward / n,
                                              "win": wins / episodes if episodes else float("nan")})
        if self.settings["save_model_to"]:
            self._save(Path(self.settings["save_model_to"]))

    def run_period(self, n: int) -> tuple[float, int, int]:
        """n environment steps; returns (total reward, episodes ended, episodes won). The hot loop."""
        q, env, rng = self.q, self.env, self.rng
        alpha, gamma, epsilon, train = self.alpha, self.gamma, self.epsilon, self.train
        step, reset, random, randrange = env.step, env.reset, rng.random, rng.randrange
        num_actions = env.num_actions
        state = self.state
        total = 0.0
        episodes = wins = 0
        for _ in range(n):
            row = q[state]
            if epsilon and random() < epsilon:
                action = randrange(num_actions)
            else:
                best = max(row)
                if row.count(best) == 1:
                    action = row.index(best)
                else:  # break ties at random, or an untrained agent walks into the same wall forever
                    action = rng.choice([a for a in range(num_actions) if row[a] == best])
            nxt, reward, done = step(action)
            if train:
                target = reward if done else reward + gamma * max(q[nxt])
                row[action] += alpha * (target - row[action])
            total += reward
            if done:
                episodes += 1
                if reward > 0:
                    wins += 1
                state = reset()
            else:
                state = nxt
        self.state = state
        return total, episodes, wins

    def _save(self, path: Path) -> None:
        self.log(f"Saving model to {path}")
        model = {"format": MODEL_FORMAT, "environment": self.env.describe(), "q": self.q}
        write_text_atomic(path, json.dumps(model))

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise ComponentError(f"RL_Proc.load_model_from: no model at {path}",
                                 hint="save one with save_model_to in an earlier stage of the runspec")
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ComponentError(f"RL_Proc.load_model_from: {path} is not a model file ({exc})") from None
        if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
            raise ComponentError(f"RL_Proc.load_model_from: {path} is not a {MODEL_FORMAT} model")
        if model.get("environment") != self.env.describe():
            raise ComponentError(f"RL_Proc.load_model_from: {path} was trained on {model.get('environment')}, "
                                 f"not on {self.env.describe()}")
        self.q = [list(map(float, row)) for row in model["q"]]


def _positive_int(settings, key: str) -> int:
    value = settings[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ComponentError(f"RL_Proc.{key} must be a positive integer, not {value!r}")
    return value
