"""The best solution of a tree search so far (:class:`Incumbent`: goal node, cost, improvement
curve) and the node chain of a tree path (:func:`path_nodes`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planners.tree import Tree


@dataclass
class Incumbent:
    """The best solution so far: its goal node, cost (s) and the improvement curve."""

    node: int = -1
    cost: float = math.inf
    history: list[list[float]] | None = None
    first_time_s: float | None = None
    first_cost: float | None = None
    nodes: list[int] | None = None
    """Every node that was the incumbent, in order (the tree keeps their paths)."""

    def offer(self, node: int, cost: float, t_s: float) -> bool:
        """Take ``node`` if it is cheaper (by more than 1e-9 s); returns whether it was taken."""
        if cost >= self.cost - 1e-9:
            return False
        if self.history is None:
            self.history = []
        if self.nodes is None:
            self.nodes = []
        if self.node < 0:
            self.first_time_s, self.first_cost = float(t_s), float(cost)
        self.node, self.cost = int(node), float(cost)
        self.history.append([float(t_s), float(cost)])
        self.nodes.append(int(node))
        return True

    @property
    def found(self) -> bool:
        return self.node >= 0


def path_nodes(tree: Tree, node: int) -> np.ndarray:
    """Node ids from the root to ``node`` ``(k,)``."""
    chain = []
    while node >= 0:
        chain.append(node)
        node = int(tree.parents[node])
    return np.array(chain[::-1], dtype=np.int64)
