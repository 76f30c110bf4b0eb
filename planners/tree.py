"""The search tree: nodes, parent links and the exact trajectory of every edge.

Node ``i`` (0 is the root, the start state) stores its state ``(6,)``, its parent (-1 for the
root), the time from the root (s), the last executed control (zeros at the root) and its edge:
the ``L_i`` controls that take the parent's state to node ``i`` and the ``L_i`` states they visit
(the parent's state excluded, node ``i``'s state last). Edges are stored flat, so a path is
reconstructed exactly by concatenating edge controls from the root, at the ``dt`` resolution.
Nodes can be deactivated and removed (SST's pruning) without renumbering.
"""

from __future__ import annotations

import numpy as np


class _Grow:
    """A growable array with a fixed trailing shape."""

    def __init__(self, tail: tuple[int, ...], dtype=float, capacity: int = 1024) -> None:
        self.data = np.zeros((capacity, *tail), dtype=dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        k = len(rows)
        if self.n + k > len(self.data):
            new = np.zeros((max(2 * len(self.data), self.n + k), *self.data.shape[1:]), dtype=self.data.dtype)
            new[: self.n] = self.data[: self.n]
            self.data = new
        self.data[self.n : self.n + k] = rows
        self.n += k

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.n]


class Tree:
    """A kinodynamic search tree with exact edges (see module docstring)."""

    def __init__(self, root: np.ndarray, dt: float, state_dim: int = 6, control_dim: int = 2) -> None:
        self.dt = float(dt)
        self._states = _Grow((state_dim,))
        self._parent = _Grow((), np.int64)
        self._cost = _Grow(())  # seconds from the root
        self._last_u = _Grow((control_dim,))
        self._edge_start = _Grow((), np.int64)
        self._edge_len = _Grow((), np.int64)
        self._n_children = _Grow((), np.int64)
        self._active = _Grow((), bool)
        self._removed = _Grow((), bool)
        self._edge_states = _Grow((state_dim,), capacity=16384)
        self._edge_controls = _Grow((control_dim,), capacity=16384)
        root = np.asarray(root, dtype=float).reshape(1, state_dim)
        self._append(root, np.array([-1]), np.zeros(1), np.zeros((1, control_dim)), np.zeros(1, np.int64),
                     np.zeros(1, np.int64))


    @classmethod
    def for_problem(cls, problem) -> Tree:
        """A tree rooted at ``problem.start`` with the dimensions and dt of ``problem.robot``."""
        robot = problem.robot
        return cls(problem.start, robot.dt, robot.state_dim, robot.control_dim)
    def _append(self, states, parents, costs, last_u, starts, lens) -> np.ndarray:
        n0 = self._states.n
        self._states.extend(states)
        self._parent.extend(parents)
        self._cost.extend(costs)
        self._last_u.extend(last_u)
        self._edge_start.extend(starts)
        self._edge_len.extend(lens)
        self._n_children.extend(np.zeros(len(states), np.int64))
        self._active.extend(np.ones(len(states), bool))
        self._removed.extend(np.zeros(len(states), bool))
        return np.arange(n0, n0 + len(states))

    # ------------------------------------------------------------------ growth
    def add(self, parents: np.ndarray, edge_states: np.ndarray, edge_controls: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Add ``K`` nodes at once.

        ``parents`` ``(K,)``; ``edge_states`` ``(K, S+1, 6)`` with index 0 the parent's state;
        ``edge_controls`` ``(K, S, 2)``; ``lengths`` ``(K,)`` in 1..S: edge ``k`` uses controls
        ``[:L_k]`` and states ``[1:L_k+1]``; the new node's state is ``edge_states[k, L_k]``.
        Returns the new node ids ``(K,)``.
        """
        parents = np.asarray(parents, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        K = len(parents)
        if K == 0:
            return np.zeros(0, dtype=np.int64)
        if np.any(lengths < 1) or np.any(lengths > edge_controls.shape[1]):
            raise ValueError("edge lengths must lie in 1..S")
        S = edge_controls.shape[1]
        mask = np.arange(S)[None, :] < lengths[:, None]  # (K, S)
        starts = self._edge_states.n + np.r_[0, np.cumsum(lengths)[:-1]]
        self._edge_states.extend(edge_states[:, 1:][mask])
        self._edge_controls.extend(edge_controls[mask])
        ends = edge_states[np.arange(K), lengths]
        last_u = edge_controls[np.arange(K), lengths - 1]
        costs = self._cost.data[parents] + lengths * self.dt
        np.add.at(self._n_children.data, parents, 1)
        return self._append(ends, parents, costs, last_u, starts, lengths)

    def deactivate(self, node: int) -> None:
        """Mark a node inactive (SST): it stays in the tree but is no longer selected."""
        self._active.data[node] = False

    def prune_branch(self, node: int) -> int:
        """Remove ``node`` if it is an inactive leaf, then its ancestors while they become inactive
        leaves (SST's pruning). Returns the number of nodes removed."""
        removed = 0
        while node > 0 and not self._active.data[node] and self._n_children.data[node] == 0 and not self._removed.data[node]:
            self._removed.data[node] = True
            parent = int(self._parent.data[node])
            self._n_children.data[parent] -= 1
            removed += 1
            node = parent
        return removed

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return self._states.n

    @property
    def states(self) -> np.ndarray:
        """Node states ``(N, 6)`` (a view)."""
        return self._states.view

    @property
    def parents(self) -> np.ndarray:
        return self._parent.view

    @property
    def costs(self) -> np.ndarray:
        """Time from the root (s) per node ``(N,)``."""
        return self._cost.view

    @property
    def last_controls(self) -> np.ndarray:
        return self._last_u.view

    @property
    def active(self) -> np.ndarray:
        return self._active.view

    @property
    def removed(self) -> np.ndarray:
        return self._removed.view

    @property
    def n_alive(self) -> int:
        """Nodes not removed by pruning."""
        return int((~self._removed.view).sum())

    def edge(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """Edge of ``node``: states ``(L+1, 6)`` (parent's state first) and controls ``(L, 2)``."""
        if node == 0:
            return self.states[:1].copy(), np.zeros((0, self._edge_controls.data.shape[1]))
        s, L = int(self._edge_start.data[node]), int(self._edge_len.data[node])
        parent = int(self._parent.data[node])
        states = np.concatenate([self.states[parent : parent + 1], self._edge_states.data[s : s + L]])
        return states, self._edge_controls.data[s : s + L].copy()

    def path_to(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """States ``(T+1, 6)`` and controls ``(T, 2)`` from the root to ``node`` at ``dt`` resolution."""
        chain = []
        while node > 0:
            chain.append(node)
            node = int(self._parent.data[node])
        chain.reverse()
        parts_s = [self.states[:1]]
        parts_u = [np.zeros((0, self._edge_controls.data.shape[1]))]
        for n in chain:
            s, L = int(self._edge_start.data[n]), int(self._edge_len.data[n])
            parts_s.append(self._edge_states.data[s : s + L])
            parts_u.append(self._edge_controls.data[s : s + L])
        return np.concatenate(parts_s), np.concatenate(parts_u)

    def edges_xy(self, stride: int = 1, include_removed: bool = False) -> list[np.ndarray]:
        """Tree edges as xy polylines ``(k, 2)`` (parent's position first), every ``stride``-th state
        plus the end, for plotting."""
        out = []
        for n in range(1, len(self)):
            if self._removed.data[n] and not include_removed:
                continue
            s, L = int(self._edge_start.data[n]), int(self._edge_len.data[n])
            pts = self._edge_states.data[s : s + L, :2]
            idx = np.r_[np.arange(stride - 1, L - 1, stride), L - 1]
            parent = int(self._parent.data[n])
            out.append(np.concatenate([self.states[parent : parent + 1, :2], pts[idx]]))
        return out
