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

Format version 2 adds episodes in many worlds and full-state goals (optional; a version-1 file is
a version-2 file without them and loads unchanged):

======================= ======= ======= ===========================================================
``worlds_json``         (W,)    str     one JSON object per world (``ditree.data.world_json``): a
                                        grid ``{"type": "grid", "name", "cell_size", "grid"}`` or
                                        a box world ``{"type": "box", **BoxWorld.to_dict()}``;
                                        with it ``map_grid`` may be omitted
``episode_world``       (E,)    int64   the world of each episode (index into ``worlds_json``);
                                        present exactly when ``worlds_json`` is
``goal_states``         (E, S)  float32 each episode's goal state where the goal was a state; a
                                        row of NaN for an episode whose goal was a point only
======================= ======= ======= ===========================================================

A one-world dataset (``map_grid`` alone, or a single entry in ``worlds_json``) has a
:meth:`ExpertDataset.world`; every dataset has :meth:`ExpertDataset.world_of` (an episode's world)
and :meth:`ExpertDataset.worlds_list`. :class:`Episode`, :meth:`ExpertDataset.from_episodes` and
:meth:`ExpertDataset.concat` build datasets from episodes and from other datasets.

:meth:`ExpertDataset.load` checks all of this and raises :class:`DatasetError` naming the file
and what is wrong.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np

from ditree.data.world_json import world_from_json, worlds_to_strings
from envs.box_world import BoxWorld
from envs.errors import DitreeInputError
from envs.world import GridMap, World

DEFAULT_ROBOT = "car"
"""The robot of a file whose metadata names none (files written before the racecar existed)."""

FORMAT_VERSION = 2
"""The format this ditree writes; it reads every version in :data:`READABLE_VERSIONS`."""
READABLE_VERSIONS = (1, 2)
ARRAYS = ("states", "controls", "episode_ends", "final_states", "goals", "map_grid")
OPTIONAL_ARRAYS = ("executed_controls", "episode_world", "goal_states")
V2_ARRAYS = ("worlds_json", "episode_world", "goal_states")
"""Arrays of format version 2 (a file declaring version 1 must not hold them)."""
_DTYPES = {"states": np.float32, "controls": np.float32, "episode_ends": np.int64, "final_states": np.float32,
           "goals": np.float32, "map_grid": np.uint8, "executed_controls": np.float32, "episode_world": np.int64,
           "goal_states": np.float32}
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


@dataclass(frozen=True, eq=False)
class Episode:
    """One demonstration, the unit :meth:`ExpertDataset.from_episodes` assembles.

    ``states`` ``(T+1, S)`` every state including the final one (it becomes the dataset's
    ``final_states`` row), ``controls`` ``(T, C)`` the control applied at each state but the last,
    ``world_index`` the episode's world (index into the ``worlds`` given with it), ``goal_xy``
    ``(2,)`` the goal position (m), ``goal_state`` ``(S,)`` the full goal state where the goal was
    a state (None: a point goal). Shapes are checked here (``T >= 1``); the widths against the
    robot by :meth:`ExpertDataset.from_episodes`. Raises :class:`DatasetError`."""

    states: np.ndarray
    controls: np.ndarray
    world_index: int
    goal_xy: np.ndarray
    goal_state: np.ndarray | None = None

    def __post_init__(self) -> None:
        states = np.asarray(self.states, dtype=np.float64)
        controls = np.asarray(self.controls, dtype=np.float64)
        if states.ndim != 2 or len(states) < 2:
            raise DatasetError(f"Episode.states must be (T+1, S) with T >= 1, got shape {states.shape}")
        if controls.ndim != 2 or len(controls) != len(states) - 1:
            raise DatasetError(f"Episode.controls must be (T, C) with T = {len(states) - 1} (one fewer than the "
                               f"states), got shape {controls.shape}")
        goal_xy = np.asarray(self.goal_xy, dtype=np.float64)
        if goal_xy.shape != (2,):
            raise DatasetError(f"Episode.goal_xy must have shape (2,), got {goal_xy.shape}")
        if isinstance(self.world_index, bool) or not isinstance(self.world_index, (int, np.integer)):
            raise DatasetError(f"Episode.world_index must be an integer, got {self.world_index!r}")
        goal_state = self.goal_state
        if goal_state is not None:
            goal_state = np.asarray(goal_state, dtype=np.float64)
            if goal_state.shape != (states.shape[1],):
                raise DatasetError(f"Episode.goal_state must have shape ({states.shape[1]},) like a state, "
                                   f"got {goal_state.shape}")
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "controls", controls)
        object.__setattr__(self, "world_index", int(self.world_index))
        object.__setattr__(self, "goal_xy", goal_xy)
        object.__setattr__(self, "goal_state", goal_state)


@dataclass(eq=False)
class ExpertDataset:
    """Expert demonstrations (see the module docstring for the arrays' shapes and meaning)."""

    states: np.ndarray
    controls: np.ndarray
    episode_ends: np.ndarray
    final_states: np.ndarray
    goals: np.ndarray
    map_grid: np.ndarray | None = None
    """``(H, W)`` the one training map; may be None when ``worlds`` is given."""
    metadata: dict = field(default_factory=dict)
    executed_controls: np.ndarray | None = None
    """``(N, C)`` controls actually applied (with action noise), or None when they are ``controls``."""
    worlds: Sequence[World] | None = None
    """The worlds of a multi-world dataset (:class:`GridMap` or :class:`BoxWorld`, a tuple), or None."""
    episode_world: np.ndarray | None = None
    """``(E,)`` int64 the world of each episode (index into ``worlds``); given exactly with ``worlds``."""
    goal_states: np.ndarray | None = None
    """``(E, S)`` each episode's goal state (a row of NaN: a point goal), or None."""

    def __post_init__(self) -> None:
        for name in self._present():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=_DTYPES[name]))
        if self.worlds is not None:
            self.worlds = tuple(self.worlds)
            for i, w in enumerate(self.worlds):
                if not isinstance(w, (GridMap, BoxWorld)):
                    raise DatasetError(f"invalid expert dataset: worlds[{i}] is a {type(w).__name__}, expected a "
                                       "GridMap or a BoxWorld")
        try:
            dims = _dims_of(self.metadata)
        except DatasetError as e:
            raise DatasetError(f"invalid expert dataset: {e}") from None
        problem = _schema_problem(self.states, self.controls, self.episode_ends, self.final_states, self.goals,
                                  self.map_grid, self.executed_controls, dims,
                                  n_worlds=None if self.worlds is None else len(self.worlds),
                                  episode_world=self.episode_world, goal_states=self.goal_states)
        if problem:
            raise DatasetError(f"invalid expert dataset: {problem}")
        try:  # JSON-normalised (tuples become lists), as it will read back from a file
            self.metadata = json.loads(json.dumps(self.metadata))
        except (TypeError, ValueError) as e:
            raise DatasetError(f"invalid expert dataset: metadata is not JSON-serialisable ({e})") from e
        if self.uses_v2 and self.metadata.get("format_version", 1) == 1:
            self.metadata["format_version"] = 2  # what it will be written as

    def _present(self) -> list[str]:
        """Names of the arrays this dataset holds (the required ones, then optional ones present)."""
        return [*(n for n in ARRAYS if getattr(self, n) is not None),
                *(n for n in OPTIONAL_ARRAYS if getattr(self, n) is not None)]

    @property
    def uses_v2(self) -> bool:
        """Whether the dataset holds format-version-2 data (worlds or goal states)."""
        return self.worlds is not None or self.goal_states is not None

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

    @property
    def num_worlds(self) -> int:
        return 1 if self.worlds is None else len(self.worlds)

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

    def episode_world_indices(self) -> np.ndarray:
        """The world of every episode ``(E,)`` int64, an index into :meth:`worlds_list` (all 0 for a
        one-map dataset)."""
        if self.episode_world is None:
            return np.zeros(self.num_episodes, dtype=np.int64)
        return self.episode_world

    def has_goal_state(self) -> np.ndarray:
        """``(E,)`` bool: whether each episode's goal was a state (a row of ``goal_states``)."""
        if self.goal_states is None:
            return np.zeros(self.num_episodes, dtype=bool)
        return ~np.isnan(self.goal_states).any(axis=1)

    def world(self) -> World:
        """The training map of a one-world dataset (``map_grid`` as a :class:`GridMap`, or its only
        world); raises :class:`DatasetError` for a dataset of several worlds (use :meth:`world_of`)."""
        if self.worlds is None:
            return GridMap(self.map_grid, float(self.metadata.get("cell_size", 1.0)),
                           str(self.metadata.get("map_name", "map")))
        if len(self.worlds) != 1:
            raise DatasetError(f"the dataset has {len(self.worlds)} worlds, so no single world(): use world_of(episode) "
                               "or worlds_list()")
        return self.worlds[0]

    def world_of(self, episode: int) -> World:
        """The world episode ``episode`` was collected in (negative indices count from the end)."""
        E = self.num_episodes
        if not -E <= episode < E:
            raise IndexError(f"episode {episode} out of range for {E} episodes")
        if self.worlds is None:
            return self.world()
        return self.worlds[int(self.episode_world[episode])]

    def worlds_list(self) -> list[World]:
        """All worlds of the dataset, in index order (a one-map dataset: ``[world()]``)."""
        return [self.world()] if self.worlds is None else list(self.worlds)

    def content_hash(self) -> str:
        """SHA-256 over the arrays, the worlds and the metadata other than its creation time: what
        a checkpoint records to name its training data."""
        h = hashlib.sha256()
        for name in self._present():  # optional arrays only when present: old hashes are unchanged
            a = getattr(self, name)
            h.update(name.encode())
            h.update(np.asarray(a.shape, dtype=np.int64).tobytes())
            h.update(a.tobytes())
        if self.worlds is not None:
            h.update(b"worlds_json")
            for text in worlds_to_strings(self.worlds):
                h.update(str(text).encode())
                h.update(b"\0")
        meta = {k: v for k, v in self.metadata.items() if k not in VOLATILE_METADATA}
        h.update(json.dumps(meta, sort_keys=True).encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the dataset to ``path`` (``.npz``, compressed). Returns the path written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in self._present()}
        if self.worlds is not None:
            arrays["worlds_json"] = worlds_to_strings(self.worlds)
        meta = dict(self.metadata)
        meta.setdefault("format_version", FORMAT_VERSION)
        with open(path, "wb") as f:
            np.savez_compressed(f, metadata=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path, expected_robot_params: dict | None = None) -> ExpertDataset:
        """Read and check a dataset file (format version 1 or 2).

        ``expected_robot_params`` (e.g. ``CarParams().to_dict()``): raise unless the data were
        collected with exactly these robot parameters. Raises :class:`DatasetError` naming the file
        and the problem (missing array, wrong shape or dtype, bad episode ends, bad world or world
        index, bad metadata, other robot parameters, unreadable file).
        """
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"{path}: no such dataset file")
        try:
            with np.load(path, allow_pickle=False) as z:
                present = set(z.files)
                needed = [n for n in (*ARRAYS, "metadata") if not (n == "map_grid" and "worlds_json" in present)]
                missing = [n for n in needed if n not in present]
                if missing:
                    raise DatasetError(f"{path}: missing array(s) {', '.join(missing)} (has {sorted(present)})")
                arrays = {n: z[n] for n in (*ARRAYS, *OPTIONAL_ARRAYS) if n in present}
                worlds_raw = z["worlds_json"] if "worlds_json" in present else None
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
        worlds = None if worlds_raw is None else _parse_worlds(worlds_raw, path)
        problem = _schema_problem(*(arrays.get(n) for n in (*ARRAYS, "executed_controls")), dims,
                                  n_worlds=None if worlds is None else len(worlds),
                                  episode_world=arrays.get("episode_world"), goal_states=arrays.get("goal_states"))
        if problem:
            raise DatasetError(f"{path}: {problem}")
        version = meta.get("format_version")
        if version not in READABLE_VERSIONS:
            raise DatasetError(f"{path}: metadata format_version is {version!r}, this ditree reads "
                               f"{' and '.join(map(str, READABLE_VERSIONS))}")
        v2 = [n for n in V2_ARRAYS if n in present]
        if version < 2 and v2:
            raise DatasetError(f"{path}: metadata format_version is {version}, but the file holds version-2 "
                               f"array(s) {', '.join(v2)}")
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
        return cls(**arrays, metadata=meta, worlds=worlds)

    # ------------------------------------------------------------------ building
    @overload
    @classmethod
    def from_episodes(cls, robot_name: str, episodes: Sequence[Episode], worlds: Sequence[World],
                      metadata: dict) -> ExpertDataset: ...

    @overload
    @classmethod
    def from_episodes(cls, states: list[np.ndarray], controls: list[np.ndarray], final_states: np.ndarray,
                      goals: np.ndarray, world: GridMap, metadata: dict,
                      executed: list[np.ndarray] | None = None) -> ExpertDataset: ...

    @classmethod
    def from_episodes(cls, *args, **kwargs) -> ExpertDataset:
        """Assemble a dataset from episodes, in one of two forms:

        - ``from_episodes(robot_name, episodes, worlds, metadata)``: :class:`Episode` records in
          any of ``worlds`` (a format-version-2 dataset with ``worlds``, ``episode_world`` and,
          when any episode has a ``goal_state``, ``goal_states``; ``map_grid`` None).
          ``metadata["robot"]`` is set to ``robot_name`` (a different one there is an error) and
          ``metadata["counts"]`` gets ``episodes`` and ``pairs``;
        - ``from_episodes(states, controls, final_states, goals, world, metadata, executed=None)``
          (the single-map experts): per-episode ``states`` ``(T_e, S)``, ``controls``
          ``(T_e, C)`` and optionally the ``executed`` controls ``(T_e, C)``; ``S`` and ``C`` are
          those of ``metadata["robot"]`` (the car when absent); the grid goes to ``map_grid``.

        Raises :class:`DatasetError` naming the episode or array that is wrong."""
        if (args and isinstance(args[0], str)) or "robot_name" in kwargs or "episodes" in kwargs:
            return cls._from_records(*args, **kwargs)
        return cls._from_arrays(*args, **kwargs)

    @classmethod
    def _from_records(cls, robot_name: str, episodes: Sequence[Episode], worlds: Sequence[World],
                      metadata: dict) -> ExpertDataset:
        S, C = robot_dims(robot_name)
        meta = dict(metadata)
        if meta.get("robot", robot_name) != robot_name:
            raise DatasetError(f"from_episodes: metadata robot {meta['robot']!r} is not robot_name {robot_name!r}")
        meta["robot"] = robot_name
        meta["format_version"] = FORMAT_VERSION
        for e, ep in enumerate(episodes):
            if not isinstance(ep, Episode):
                raise DatasetError(f"from_episodes: episode {e} is a {type(ep).__name__}, expected an Episode")
            if ep.states.shape[1] != S or ep.controls.shape[1] != C:
                raise DatasetError(f"from_episodes: episode {e} has {ep.states.shape[1]}-D states and "
                                   f"{ep.controls.shape[1]}-D controls, robot {robot_name!r} has {S} and {C}")
        E = len(episodes)
        lengths = np.array([len(ep.controls) for ep in episodes], dtype=np.int64)
        goal_states = None
        if any(ep.goal_state is not None for ep in episodes):
            goal_states = np.full((E, S), np.nan)
            for e, ep in enumerate(episodes):
                if ep.goal_state is not None:
                    goal_states[e] = ep.goal_state
        meta["counts"] = {**(meta.get("counts") or {}), "episodes": E, "pairs": int(lengths.sum())}
        return cls(
            states=np.concatenate([ep.states[:-1] for ep in episodes]) if E else np.zeros((0, S)),
            controls=np.concatenate([ep.controls for ep in episodes]) if E else np.zeros((0, C)),
            episode_ends=np.cumsum(lengths),
            final_states=np.array([ep.states[-1] for ep in episodes]).reshape(E, S),
            goals=np.array([ep.goal_xy for ep in episodes]).reshape(E, 2),
            metadata=meta,
            worlds=list(worlds),
            episode_world=np.array([ep.world_index for ep in episodes], dtype=np.int64),
            goal_states=goal_states,
        )

    @classmethod
    def _from_arrays(cls, states: list[np.ndarray], controls: list[np.ndarray], final_states: np.ndarray,
                     goals: np.ndarray, world: GridMap, metadata: dict,
                     executed: list[np.ndarray] | None = None) -> ExpertDataset:
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

    @classmethod
    def concat(cls, datasets: Sequence[ExpertDataset]) -> ExpertDataset:
        """One dataset of all episodes of ``datasets``, in order (a format-version-2 dataset with
        ``worlds``). All must be of the same robot with the same parameters (else
        :class:`DatasetError` naming the part); worlds with the same content hash are stored once
        (the first one's name kept); ``executed_controls`` are kept if any part has them (the others
        contribute their ``controls``), ``goal_states`` likewise (the others rows of NaN).

        Metadata: the keys all parts agree on (their counts, creation times and sources aside),
        ``sources`` (each part's summary: robot, map, seed, counts, content hash ...; a part that
        is itself a concatenation contributes its sources), ``counts`` summed over the parts
        (``success_rate`` recomputed), ``format_version`` and a new ``created``."""
        parts = list(datasets)
        if not parts:
            raise DatasetError("concat: no datasets given")
        for i, d in enumerate(parts):
            if not isinstance(d, ExpertDataset):
                raise DatasetError(f"concat: part {i} is a {type(d).__name__}, expected an ExpertDataset")
            if d.robot != parts[0].robot:
                raise DatasetError(f"concat: datasets of different robots: part 0 is {parts[0].robot!r}, "
                                   f"part {i} is {d.robot!r}")
            p0, pi = parts[0].metadata.get("robot_params"), d.metadata.get("robot_params")
            if isinstance(p0, dict) and isinstance(pi, dict) and p0 != pi:
                diff = sorted(k for k in set(p0) | set(pi) if p0.get(k) != pi.get(k))
                raise DatasetError(f"concat: part {i} was collected with other robot parameters than part 0 "
                                   f"({', '.join(f'{k}: {pi.get(k)!r} vs {p0.get(k)!r}' for k in diff)})")
        S = parts[0].states.shape[1]
        worlds: list[World] = []
        index_of: dict[str, int] = {}
        episode_world = []
        for d in parts:
            remap = []
            for w in d.worlds_list():
                key = f"{type(w).__name__}:{w.content_hash()}"
                if key not in index_of:
                    index_of[key] = len(worlds)
                    worlds.append(w)
                remap.append(index_of[key])
            episode_world.append(np.asarray(remap, dtype=np.int64)[d.episode_world_indices()])
        any_exec = any(d.executed_controls is not None for d in parts)
        any_goal = any(d.goal_states is not None for d in parts)
        offsets = np.cumsum([0] + [d.num_pairs for d in parts[:-1]])
        return cls(
            states=np.concatenate([d.states for d in parts]),
            controls=np.concatenate([d.controls for d in parts]),
            episode_ends=np.concatenate([d.episode_ends + o for d, o in zip(parts, offsets)]),
            final_states=np.concatenate([d.final_states for d in parts]),
            goals=np.concatenate([d.goals for d in parts]),
            metadata=_concat_metadata(parts),
            executed_controls=np.concatenate([d.applied_controls for d in parts]) if any_exec else None,
            worlds=worlds,
            episode_world=np.concatenate(episode_world),
            goal_states=np.concatenate([d.goal_states if d.goal_states is not None
                                        else np.full((d.num_episodes, S), np.nan) for d in parts]) if any_goal else None,
        )


_SUMMARY_KEYS = ("robot", "map_name", "map_hash", "cell_size", "dt", "seed", "workers", "expert", "validator",
                 "ditree_version", "created", "collect_time_s", "counts", "source_path")
_NOT_SHARED = (*VOLATILE_METADATA, "counts", "sources", "format_version")


def _summary(d: ExpertDataset) -> dict:
    """What :meth:`ExpertDataset.concat` records of one part in ``metadata["sources"]``."""
    s = {k: d.metadata[k] for k in _SUMMARY_KEYS if k in d.metadata}
    s.update(episodes=d.num_episodes, pairs=d.num_pairs, worlds=d.num_worlds, content_hash=d.content_hash())
    return s


def _sum_counts(counts: list[dict]) -> dict:
    """Key-wise sums of count dicts (nested dicts summed recursively; a key missing from a part
    counts 0; non-numbers kept only where all parts agree)."""
    out: dict = {}
    for key in dict.fromkeys(k for c in counts for k in c):
        vals = [c[key] for c in counts if key in c]
        if all(isinstance(v, dict) for v in vals):
            out[key] = _sum_counts(vals)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[key] = sum(vals)
        elif all(v == vals[0] for v in vals):
            out[key] = vals[0]
    return out


def _concat_metadata(parts: list[ExpertDataset]) -> dict:
    metas = [d.metadata for d in parts]
    shared = {k: v for k, v in metas[0].items() if k not in _NOT_SHARED and all(m.get(k, object()) == v for m in metas)}
    params = [m["robot_params"] for m in metas if isinstance(m.get("robot_params"), dict)]
    if params:  # concat checked that the parts that record them agree
        shared["robot_params"] = params[0]
    sources = []
    for d in parts:
        sources += d.metadata["sources"] if isinstance(d.metadata.get("sources"), list) else [_summary(d)]
    counts = _sum_counts([m.get("counts") or {} for m in metas])
    if "success_rate" in counts:
        counts["success_rate"] = counts.get("solved", 0) / max(counts.get("attempted", 0), 1)
    counts.update(episodes=sum(d.num_episodes for d in parts), pairs=sum(d.num_pairs for d in parts))
    return {**shared, "robot": parts[0].robot, "format_version": FORMAT_VERSION, "sources": sources, "counts": counts,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _parse_worlds(raw: np.ndarray, path: Path) -> list[World]:
    """The worlds of a file's ``worlds_json`` array; :class:`DatasetError` naming the entry."""
    if raw.dtype.kind != "U" or raw.ndim != 1 or raw.size == 0:
        raise DatasetError(f"{path}: array 'worlds_json' must be a non-empty (W,) array of JSON strings, got dtype "
                           f"{raw.dtype} and shape {raw.shape}")
    worlds = []
    for i, text in enumerate(raw):
        try:
            worlds.append(world_from_json(json.loads(str(text))))
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: array 'worlds_json' entry {i} is not valid JSON ({e})") from None
        except DitreeInputError as e:  # MapFormatError
            raise DatasetError(f"{path}: array 'worlds_json' entry {i}: {e}") from None
    return worlds


def _schema_problem(states, controls, episode_ends, final_states, goals, map_grid,
                    executed_controls=None, dims: tuple[int, int] = (6, 2), *, n_worlds: int | None = None,
                    episode_world=None, goal_states=None) -> str | None:
    """What is wrong with these arrays (``executed_controls``, ``episode_world`` and
    ``goal_states`` may be None; ``map_grid`` too when ``n_worlds``, the number of worlds, is given)
    for a robot with ``dims`` = (state_dim, control_dim), or None."""
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
    if map_grid is None:
        if n_worlds is None:
            return "array 'map_grid' is missing (it may be left out only with worlds)"
    elif map_grid.ndim != 2 or map_grid.size == 0:
        return f"array 'map_grid' has shape {map_grid.shape}, expected a non-empty (H, W) grid"
    elif not np.isin(map_grid, (0, 1)).all():
        return "array 'map_grid' holds values other than 0 and 1"
    if n_worlds is not None or episode_world is not None:
        problem = _worlds_problem(n_worlds, episode_world, E)
        if problem:
            return problem
    if goal_states is not None:
        if goal_states.shape != (E, S):
            return f"array 'goal_states' has shape {goal_states.shape}, expected ({E}, {S}) (E = {E} episodes)"
        nan = np.isnan(goal_states)
        bad = (nan.any(axis=1) & ~nan.all(axis=1)) | np.isinf(goal_states).any(axis=1)
        if bad.any():
            return (f"array 'goal_states' row {int(np.argmax(bad))} is neither finite nor all NaN (NaN marks an "
                    "episode without a goal state)")
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


def _worlds_problem(n_worlds: int | None, episode_world, E: int) -> str | None:
    """What is wrong with the worlds (their number ``n_worlds``) and ``episode_world``, or None."""
    if n_worlds is None:
        return "array 'episode_world' is given without worlds (worlds_json)"
    if n_worlds < 1:
        return "worlds (worlds_json) is empty: a dataset needs at least one world"
    if episode_world is None:
        return "array 'episode_world' is missing (it goes with worlds_json)"
    if episode_world.shape != (E,):
        return f"array 'episode_world' has shape {episode_world.shape}, expected ({E},) (E = {E} episodes)"
    bad = (episode_world < 0) | (episode_world >= n_worlds)
    if bad.any():
        e = int(np.argmax(bad))
        return (f"array 'episode_world' names world {int(episode_world[e])} for episode {e}, but there are "
                f"{n_worlds} worlds (0 to {n_worlds - 1})")
    return None
