"""A grid maze in pure Python: the agent starts in a random cell and must walk to the goal.

The layout is a perfect maze (one path between any two cells) carved by a depth-first search seeded with
maze_seed. States are cell numbers, actions are N/E/S/W; bumping into a wall leaves the agent where it is.
Reaching the goal gives reward 1 and ends the episode (a win); running out of steps ends it with no reward.
"""

from __future__ import annotations

import random

from launcher.runtime import Component, ComponentError

MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # N, E, S, W as (row, col) steps


class Maze_Env(Component):
    num_actions = len(MOVES)

    def setup(self) -> None:
        self.size = int(self.settings["size"])
        self.max_episode_steps = int(self.settings["max_episode_steps"])
        if self.size < 2:
            raise ComponentError(f"Maze_Env.size must be at least 2, not {self.size}")
        if self.max_episode_steps < 1:
            raise ComponentError(f"Maze_Env.max_episode_steps must be at least 1, not {self.max_episode_steps}")
        self.num_states = self.size * self.size
        self.goal = self.num_states - 1
        self.transitions = _carve(self.size, random.Random(self.settings["maze_seed"]))
        self._placement = random.Random(self.settings["agent_placement_seed"])
        self.state = 0
        self.steps = 0

    def describe(self) -> dict:
        """What a saved model must match to be loaded with this environment."""
        return {"component": self.component, "size": self.size, "maze_seed": self.settings["maze_seed"]}

    def reset(self) -> int:
        self.steps = 0
        self.state = self._placement.randrange(self.num_states - 1)  # any cell but the goal
        return self.state

    def step(self, action: int) -> tuple[int, float, bool]:
        """(next state, reward, episode over)"""
        self.state = self.transitions[self.state][action]
        self.steps += 1
        if self.state == self.goal:
            return self.state, 1.0, True
        return self.state, 0.0, self.steps >= self.max_episode_steps


def _carve(size: int, rng: random.Random) -> list[tuple[int, ...]]:
    """transitions[cell][action] -> next cell, for a maze carved by an iterative depth-first search."""
    open_moves: list[set[int]] = [set() for _ in range(size * size)]
    seen = {0}
    stack = [0]
    while stack:
        cell = stack[-1]
        r, c = divmod(cell, size)
        options = []
        for a, (dr, dc) in enumerate(MOVES):
            nr, nc = r + dr, c + dc
            if 0 <= nr < size and 0 <= nc < size and nr * size + nc not in seen:
                options.append((a, nr * size + nc))
        if not options:
            stack.pop()
            continue
        a, nxt = rng.choice(options)
        open_moves[cell].add(a)
        open_moves[nxt].add((a + 2) % 4)  # the opposite move
        seen.add(nxt)
        stack.append(nxt)
    table = []
    for cell in range(size * size):
        r, c = divmod(cell, size)
        row = []
        for a, (dr, dc) in enumerate(MOVES):
            row.append((r + dr) * size + (c + dc) if a in open_moves[cell] else cell)
        table.append(tuple(row))
    return table
