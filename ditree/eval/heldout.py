"""Held-out generated problems: seeds no training collection uses, and the problems they make.

Held-out problem ``i`` of base seed ``b`` comes from seed :func:`heldout_seed` ``(i, b)``, which lies
in ``[2**30, 2**31)`` (:data:`HELD_OUT_BASE` plus 30 bits of a hash), a namespace of its own;
training problems (``ditree improve``) keep their world seeds out of that range. Used by
``scripts/bench_generated.py`` and by ``ditree improve``'s evaluation.
"""

from __future__ import annotations

import hashlib

from envs.problem import Problem
from envs.registry import make_robot, robot_spec

HELD_OUT_BASE = 1 << 30
"""Held-out problem seeds lie in [2**30, 2**31): see :func:`heldout_seed`."""


def heldout_seed(index: int, base_seed: int = 0) -> int:
    """The seed of held-out problem ``index``: ``2**30`` plus 30 bits of a hash of ``(base_seed, index)``."""
    digest = hashlib.sha256(f"heldout/{int(base_seed)}/{int(index)}".encode()).digest()
    return HELD_OUT_BASE + (int.from_bytes(digest[:4], "big") & (HELD_OUT_BASE - 1))


def is_heldout_seed(seed: int) -> bool:
    """Whether ``seed`` lies in the held-out range ``[2**30, 2**31)``."""
    return HELD_OUT_BASE <= int(seed) < 2 * HELD_OUT_BASE


def default_worlds(robot: str) -> str:
    """"box" for robots planned in continuous box worlds (dynobench's), "grid" for the car and racecar."""
    return "grid" if robot_spec(robot).map_cell_size >= 1.0 else "box"


def make_problem(worlds: str, kind: str, seed: int, robot_name: str, rows: int,
                 goal_tol: float | None = None) -> Problem:
    """The generated problem of world family ``worlds`` ("box": ``envs.box_generators.box_problem``, a
    full-state goal within ``goal_tol``, default the robot's registered tolerance; "grid":
    ``envs.generators.generated_problem`` of ``rows`` x ``rows`` cells, a goal disc) of kind ``kind``
    from ``seed``, for the robot registered as ``robot_name``."""
    robot = make_robot(robot_name)
    if worlds == "box":
        from envs.box_generators import box_problem

        return box_problem(kind, seed, robot, goal_tol=goal_tol)
    from envs.generators import generated_problem

    return generated_problem(kind, seed, rows, rows, robot=robot)


def heldout_problems(robot_name: str, worlds: str, kinds: list[str] | tuple[str, ...], n: int, base_seed: int = 0,
                     rows: int = 15) -> list[tuple[str, Problem]]:
    """``n`` held-out problems ``(name, problem)``, the kinds taken in turn, problem ``i`` from
    :func:`heldout_seed` ``(i, base_seed)``; named ``"{worlds}-{kind}-{seed}"`` as in
    ``scripts/bench_generated.py``, whose first ``n`` problems they are for the same arguments."""
    out = []
    for i in range(n):
        kind, seed = kinds[i % len(kinds)], heldout_seed(i, base_seed)
        out.append((f"{worlds}-{kind}-{seed}", make_problem(worlds, kind, seed, robot_name, rows)))
    return out
