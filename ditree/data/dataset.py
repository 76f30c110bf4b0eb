"""The expert dataset file: one ``.npz`` of demonstrations (the contract with policy training).

The file is robot-generic: the state and control widths ``S`` and ``C`` are those of the robot
named by ``metadata["robot"]`` (:func:`robot_dims`; a file without that key is a car file): the
car has ``S = 6`` (``[x, y, yaw, v, D, delta]``) and ``C = 2`` (``[dD, ddelta]``), the PyBullet
racecar ``S = 24`` (``envs.racecar.STATE_NAMES``) and ``C = 2`` (``[wheel_speed, steer]``). The
first three state components are always the pose ``(x, y, yaw)`` of the footprint centre.

Arrays (``N`` state-control pairs in ``E`` episodes; shown for the car):

================ =========== ======= ===========================================================
name             shape       dtype   meaning
================ =========== ======= ===========================================================
``states``       (N, 6)      float32 the state ``[x, y, yaw, v, D, delta]`` at which each control
                                     is applied
``controls``     (N, 2)      float32 the expert's control ``[dD, ddelta]`` at that state
``episode_ends`` (E,)        int64   exclusive end row of each episode: episode ``e`` spans rows
                                     ``[episode_ends[e-1], episode_ends[e])`` (the first from 0)
``final_states`` (E, 6)      float32 the state after each episode's last control
``goals``        (E, 2)      float32 each episode's goal xy (m)
``map_grid``     (H, W)      uint8   the training map (1 = wall; cells of ``cell_size`` m)
``metadata``     ()          str     JSON: format version, robot name and parameters, map name,
                                     map content hash, cell size, dt, counts, seed, workers,
                                     expert settings, package version, creation time
================ =========== ======= ===========================================================

Optional (data collected with action noise, DART-style; files without it load as before):

======================= ======= ======= ===========================================================
``executed_controls``   (N, C)  float32 the control actually applied at each state (the expert's
                                        clean control in ``controls`` plus noise, clipped): these,
                                        not ``controls``, re-simulate ``states``
======================= ======= ======= ===========================================================

:meth:`ExpertDataset.load` checks all of this and raises :class:`DatasetError` naming the file
and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from envs.errors import DitreeInputError
from envs.world import GridMap

DEFAULT_ROBOT = "car"
"""The robot of a file whose metadata names none (files written before the racecar existed)."""

FORMAT_VERSION = 1
ARRAYS = ("states", "controls", "episode_ends", "final_states", "goals", "map_grid")
OPTIONAL_ARRAYS = ("executed_controls",)
_DTYPES = {"states": np.float32, "controls": np.float32, "episode_ends": np.int64, "final_states": np.float32,
           "goals": np.float32, "map_grid": np.uint8, "executed_controls": np.float32}
#: metadata keys excluded from :meth:`ExpertDataset.content_hash` (they vary between identical runs)
VOLATILE_METADATA = ("created", "collect_time_s")


class DatasetError(DitreeInputError):
    """An expert dataset file is unreadable or does not follow the format; the message says why."""


def robot_dims(name: str) -> tuple[int, int]:
    """``(state_dim, control_dim)`` of the robot registered as ``name`` (``envs.registry``;
    building a robot starts no physics engine). Raises :class:`DatasetError` for an unknown name."""
    from envs.registry import make_robot, registered_robots

    if not isinstance(name, str) or name not in registered_robots():
        raise DatasetError(f"metadata robot {name!r} is not a known robot (registered: {', '.join(registered_robots())})")
    robot = make_robot(name)
    return int(robot.state_dim), int(robot.control_dim)


def _dims_of(metadata: object) -> tuple[int, int]:
    robot = metadata.get("robot", DEFAULT_ROBOT) if isinstance(metadata, dict) else DEFAULT_ROBOT
    return robot_dims(robot)


@dataclass(eq=False)
class ExpertDataset:
    """Expert demonstrations (see the module docstring for the arrays' shapes and meaning)."""

    states: np.ndarray
    controls: np.ndarray
    episode_ends: np.ndarray
    final_states: np.ndarray
    goals: np.ndarray
    map_grid: np.ndarray
    metadata: dict = field(default_factory=dict)
    executed_controls: np.ndarray | None = None
    """``(N, C)`` controls actually applied (with action noise), or None when they are ``controls``."""

    def __post_init__(self) -> None:
        for name in self._present():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=_DTYPES[name]))
        try:
            dims = _dims_of(self.metadata)
        except DatasetError as e:
            raise DatasetError(f"invalid expert dataset: {e}") from None
        problem = _schema_problem(self.states, self.controls, self.episode_ends, self.final_states, self.goals,
                                  self.map_grid, self.executed_controls, dims)
        if problem:
            raise DatasetError(f"invalid expert dataset: {problem}")
        try:  # JSON-normalised (tuples become lists), as it will read back from a file
            self.metadata = json.loads(json.dumps(self.metadata))
        except (TypeError, ValueError) as e:
            raise DatasetError(f"invalid expert dataset: metadata is not JSON-serialisable ({e})") from e

    def _present(self) -> list[str]:
        """Names of the arrays this dataset holds (the required ones, then optional ones present)."""
        return [*ARRAYS, *(n for n in OPTIONAL_ARRAYS if getattr(self, n) is not None)]

    # ------------------------------------------------------------------ access
    @property
    def robot(self) -> str:
        """Name of the robot the data were collected with (``metadata["robot"]``, else the car)."""
        return str(self.metadata.get("robot", DEFAULT_ROBOT))

    @property
    def applied_controls(self) -> np.ndarray:
        """``(N, C)`` the controls that produced the states: ``executed_controls`` if recorded,
        else ``controls``."""
        return self.controls if self.executed_controls is None else self.executed_controls

    @property
    def num_episodes(self) -> int:
        return len(self.episode_ends)

    @property
    def num_pairs(self) -> int:
        return len(self.states)

    def episode_slice(self, e: int) -> slice:
        """Rows of episode ``e`` (negative indices count from the end)."""
        E = self.num_episodes
        if not -E <= e < E:
            raise IndexError(f"episode {e} out of range for {E} episodes")
        e %= E
        return slice(int(self.episode_ends[e - 1]) if e else 0, int(self.episode_ends[e]))

    def episode_states(self, e: int) -> np.ndarray:
        """All states of episode ``e`` including the final one: ``(T+1, S)``."""
        return np.concatenate([self.states[self.episode_slice(e)], self.final_states[e][None]])

    def episode_lengths(self) -> np.ndarray:
        """Controls per episode ``(E,)``."""
        return np.diff(np.r_[0, self.episode_ends])

    def episode_index(self) -> np.ndarray:
        """The episode of every row ``(N,)``."""
        return np.repeat(np.arange(self.num_episodes), self.episode_lengths())

    def world(self) -> GridMap:
        """The training map as a :class:`GridMap`."""
        return GridMap(self.map_grid, float(self.metadata.get("cell_size", 1.0)),
                       str(self.metadata.get("map_name", "map")))

    def content_hash(self) -> str:
        """SHA-256 over the arrays and the metadata other than its creation time: what a
        checkpoint records to name its training data."""
        h = hashlib.sha256()
        for name in self._present():  # optional arrays only when present: old hashes are unchanged
            a = getattr(self, name)
            h.update(name.encode())
            h.update(np.asarray(a.shape, dtype=np.int64).tobytes())
            h.update(a.tobytes())
        meta = {k: v for k, v in self.metadata.items() if k not in VOLATILE_METADATA}
        h.update(json.dumps(meta, sort_keys=True).encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the dataset to ``path`` (``.npz``, compressed). Returns the path written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in self._present()}
        meta = dict(self.metadata)
        meta.setdefault("format_version", FORMAT_VERSION)
        with open(path, "wb") as f:
            np.savez_compressed(f, metadata=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path, expected_robot_params: dict | None = None) -> ExpertDataset:
        """Read and check a dataset file.

        ``expected_robot_params`` (e.g. ``CarParams().to_dict()``): raise unless the data were
        collected with exactly these robot parameters. Raises :class:`DatasetError` naming the file
        and the problem (missing array, wrong shape or dtype, bad episode ends, bad metadata,
        other robot parameters, unreadable file).
        """
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{path}: no such dataset file")
        try:
            with np.load(path, allow_pickle=False) as z:
                present = set(z.files)
                missing = [n for n in (*ARRAYS, "metadata") if n not in present]
                if missing:
                    raise DatasetError(f"{path}: missing array(s) {', '.join(missing)} (has {sorted(present)})")
                arrays = {n: z[n] for n in (*ARRAYS, *OPTIONAL_ARRAYS) if n in present}
                meta_raw = z["metadata"]
        except DatasetError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
            raise DatasetError(f"{path}: unreadable or corrupt dataset file ({type(e).__name__}: {e})") from e
        for name, a in arrays.items():
            if a.dtype != _DTYPES[name]:
                raise DatasetError(f"{path}: array '{name}' has dtype {a.dtype}, expected {np.dtype(_DTYPES[name])}")
        try:
            meta = json.loads(str(meta_raw))
        except (json.JSONDecodeError, TypeError) as e:
            raise DatasetError(f"{path}: metadata is not valid JSON ({e})") from e
        if not isinstance(meta, dict):
            raise DatasetError(f"{path}: metadata must be a JSON object, got {type(meta).__name__}")
        try:
            dims = _dims_of(meta)
        except DatasetError as e:
            raise DatasetError(f"{path}: {e}") from None
        problem = _schema_problem(*(arrays.get(n) for n in (*ARRAYS, *OPTIONAL_ARRAYS)), dims)
        if problem:
            raise DatasetError(f"{path}: {problem}")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise DatasetError(f"{path}: metadata format_version is {version!r}, this ditree reads {FORMAT_VERSION}")
        if expected_robot_params is not None:
            got = meta.get("robot_params")
            if not isinstance(got, dict):
                raise DatasetError(f"{path}: metadata has no robot_params to compare with the expected robot")
            diff = sorted(k for k in set(got) | set(expected_robot_params)
                          if got.get(k) != expected_robot_params.get(k))
            if diff:
                detail = ", ".join(f"{k}: file {got.get(k)!r} vs expected {expected_robot_params.get(k)!r}"
                                   for k in diff)
                raise DatasetError(f"{path}: collected with other robot parameters ({detail})")
        return cls(**arrays, metadata=meta)

    @classmethod
    def from_episodes(cls, states: list[np.ndarray], controls: list[np.ndarray], final_states: np.ndarray,
                      goals: np.ndarray, world: GridMap, metadata: dict,
                      executed: list[np.ndarray] | None = None) -> ExpertDataset:
        """Assemble a dataset from per-episode ``states`` ``(T_e, S)``, ``controls`` ``(T_e, C)``
        and optionally the ``executed`` controls ``(T_e, C)``; ``S`` and ``C`` are those of
        ``metadata["robot"]`` (the car when absent)."""
        S, C = _dims_of(metadata)
        lengths = np.array([len(s) for s in states], dtype=np.int64)
        return cls(
            executed_controls=None if executed is None else (np.concatenate(executed) if executed
                                                             else np.zeros((0, C))),
            states=np.concatenate(states) if states else np.zeros((0, S)),
            controls=np.concatenate(controls) if controls else np.zeros((0, C)),
            episode_ends=np.cumsum(lengths),
            final_states=np.asarray(final_states).reshape(-1, S),
            goals=np.asarray(goals).reshape(-1, 2),
            map_grid=world.grid,
            metadata=metadata,
        )


def _schema_problem(states, controls, episode_ends, final_states, goals, map_grid,
                    executed_controls=None, dims: tuple[int, int] = (6, 2)) -> str | None:
    """What is wrong with these arrays (``executed_controls`` may be None) for a robot with
    ``dims`` = (state_dim, control_dim), or None."""
    S, C = dims
    N = states.shape[0] if states.ndim else 0
    expect = {"states": (states, (N, S)), "controls": (controls, (N, C))}
    if executed_controls is not None:
        expect["executed_controls"] = (executed_controls, (N, C))
    E = episode_ends.shape[0] if episode_ends.ndim == 1 else -1
    if states.ndim != 2 or states.shape[1] != S:
        return f"array 'states' has shape {states.shape}, expected (N, {S})"
    for name, (a, shape) in expect.items():
        if a.shape != shape:
            return f"array '{name}' has shape {a.shape}, expected {shape} (N = {N} rows of states)"
    if E < 0:
        return f"array 'episode_ends' has shape {episode_ends.shape}, expected (E,)"
    for name, a, cols in (("final_states", final_states, S), ("goals", goals, 2)):
        if a.shape != (E, cols):
            return f"array '{name}' has shape {a.shape}, expected ({E}, {cols}) (E = {E} episodes)"
    if map_grid.ndim != 2 or map_grid.size == 0:
        return f"array 'map_grid' has shape {map_grid.shape}, expected a non-empty (H, W) grid"
    if not np.isin(map_grid, (0, 1)).all():
        return "array 'map_grid' holds values other than 0 and 1"
    if E:
        steps = np.diff(np.r_[0, episode_ends])
        if (steps <= 0).any():
            e = int(np.argmax(steps <= 0))
            return f"episode_ends must be strictly increasing from > 0, but episode {e} ends at {int(episode_ends[e])}"
        if episode_ends[-1] != N:
            return f"episode_ends must end at the number of rows {N}, but the last is {int(episode_ends[-1])}"
    elif N:
        return f"episode_ends is empty but there are {N} rows"
    for name, a in (("states", states), ("controls", controls), ("final_states", final_states), ("goals", goals),
                    ("executed_controls", executed_controls)):
        if a is not None and not np.isfinite(a).all():
            return f"array '{name}' holds non-finite values"
    return None
