"""The expert for the PyBullet racecar (:class:`envs.racecar.Racecar`): demonstrations for its policy.

The same recipe as the car's expert (:mod:`ditree.data.expert`), with the racecar's own controls
and geometry. One episode: a free start pose (at rest, or moving after a short warm-up drive) and a
free goal cell at least ``min_goal_distance`` away along the grid, in a map at 2 m per cell
(``envs.racecar.RACECAR_CELL_SIZE``). The expert

1. finds the grid shortest path (:class:`~ditree.data.gridpath.GridPaths`), rounds its corners with
   arcs of ``corner_radius`` and resamples it every ``path_ds`` metres, with a speed limit per point
   (the episode's cruising speed, ``curve_speed_gain / |curvature|`` on curves, a braking-distance
   backward pass at ``brake_decel``, ``goal_speed`` at the goal): the car expert's
   :func:`~ditree.data.expert.build_references`, reused as is;
2. tracks it every control period (0.02 s) with pure pursuit about the rear axle, which outputs the
   racecar's controls directly: ``steer = atan(2 L sin(alpha) / l_d)`` (clipped to +-0.5 rad), with
   ``L`` = :data:`WHEELBASE`, ``alpha`` the bearing of the lookahead point off the heading seen from
   the rear axle and ``l_d`` its distance; beyond ``full_lock_angle`` the expert turns at full lock
   (side latched, first side given per try) at ``turn_speed``; the rear-wheel speed is
   ``(v_ref + speed_gain (v_ref - v)) / r`` rad/s, clipped, with ``r`` = :data:`WHEEL_RADIUS` and
   ``v_ref`` the speed limit read ``speed_preview`` seconds ahead;
3. tries a problem whose path starts behind the car several ways and keeps the shortest success:
   the first full-lock turn to either side, each also after reversing at ``reverse_wheel_speed``
   with the opposite lock for each of ``reverse_times`` (a three-point turn: the racecar's
   full-lock circle, about 0.6-0.75 m radius, is too wide for a U-turn in a 2 m corridor).

Geometry measured from ``racecar/racecar.urdf``: the rear axle lies at the base link origin, the
steering hinges 0.325 m ahead of it (:data:`WHEELBASE`), the wheels have radius 0.05 m
(:data:`WHEEL_RADIUS`; 60 rad/s gives the measured terminal speed of about 3.0 m/s). The wheels
slip when the speed target jumps: the car accelerates at about 2.5 m/s^2 and coasts down at about
1.4 m/s^2 with a zero wheel speed, hence the proportional ``speed_gain`` (it brakes harder by
asking for a lower wheel speed than the target).

All tries of a batch are simulated together, one control period at a time, with
:meth:`Racecar.step` on ``(B, 24)`` (the loop is over time steps only). A try ends at the first
state whose footprint centre lies within ``goal_radius`` (0.5 m, the planners' goal radius in
``envs.problem``, unscaled: the goal test is the same for the expert as for the planners), at the
first state whose footprint (exact, and inflated by ``safety_margin``) touches a wall, or at its
time limit. Kept episodes are re-validated at every state by an independent checker (PyBullet when
available).

DART-style noise (``action_noise`` > 0, off by default): a fraction ``noise_fraction`` of the
problems executes the expert's control plus Gaussian noise (std ``action_noise`` times half each
control's range: 40 rad/s and 0.5 rad) held ``noise_hold`` seconds, clipped to the bounds; every
state is labelled with the expert's clean control (``controls``), the applied ones are recorded as
``executed`` (they re-simulate the states).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from ditree.data.expert import (
    REJECT_REASONS,
    Episode,
    References,
    WorkerOutput,
    build_references,
    step_status,
    validation_checker,
)
from ditree.data.gridpath import GridPaths
from envs.collision import AnalyticCollisionChecker, CollisionChecker
from envs.errors import DitreeInputError
from envs.racecar import CENTRE_OFFSET, RACECAR_CELL_SIZE, Racecar, RacecarParams
from envs.world import GridMap

WHEELBASE = 0.325
"""Rear axle to steering hinges (m), from the URDF (``left_steering_hinge_joint`` at x = 0.325)."""
WHEEL_RADIUS = 0.05
"""Wheel radius (m), from the URDF (cylinders of radius 0.05)."""


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _f32(a: np.ndarray) -> np.ndarray:
    """``a`` rounded to float32 values (kept float64): starts and applied controls are simulated
    exactly as the float32 dataset stores them, so a file re-simulates bit for bit (the physics
    would amplify the rounding to centimetres over an episode)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


@dataclass(frozen=True)
class RacecarExpertConfig:
    """Settings of the racecar expert (units in brackets); defaults made the shipped racecar data."""

    # --- episodes
    speed_min: float = 1.5
    """Lowest cruising speed drawn per episode [m/s]."""
    speed_max: float = 2.7
    """Highest cruising speed drawn per episode [m/s] (terminal speed at 60 rad/s: about 3.0)."""
    moving_start_prob: float = 0.4
    """Fraction of episodes that start in motion (after a warm-up drive that is not recorded)."""
    warmup_min: float = 0.3
    """Shortest warm-up drive of a moving start [s]."""
    warmup_max: float = 1.0
    """Longest warm-up drive [s]."""
    warmup_wheel_min: float = 15.0
    """Lowest constant rear-wheel speed of a warm-up drive [rad/s]."""
    warmup_wheel_max: float = 55.0
    """Highest warm-up wheel speed [rad/s]."""
    warmup_steer: float = 0.1
    """Warm-up steering angle is uniform in +- this [rad]."""
    moving_heading_noise: float = 0.3
    """A moving start heads along a free corridor direction +- this [rad]."""
    start_offset: float = 0.4
    """Start positions are uniform within +- this of a free cell's centre, per axis [m]."""
    goal_offset: float = 0.4
    """Goals are uniform within +- this of a free cell's centre, per axis [m]."""
    min_goal_distance: float = 6.0
    """Minimum grid geodesic between the start and goal cells [m] (3 cells at 2 m)."""
    max_goal_distance: float = 24.0
    """Maximum grid geodesic between the start and goal cells [m] (12 cells; 0 = no limit): keeps
    episodes short, so that a fixed physics budget covers more starts and goals."""
    goal_radius: float = 0.5
    """An episode ends at the first state within this distance of the goal [m]."""
    safety_margin: float = 0.05
    """Kept episodes keep the footprint inflated by this much collision-free too [m]."""
    timeout_factor: float = 2.5
    """Time limit: this times the path length at the cruising speed ...[1]"""
    timeout_extra: float = 6.0
    """... plus this [s] (a three-point turn takes a few seconds)."""
    # --- reference path (field names shared with ExpertConfig: build_references reads them)
    diagonal: bool = True
    """8-connected grid paths without corner cutting (else 4-connected)."""
    corner_radius: float = 0.9
    """Radius of the arcs that round the grid path's corners [m] (below half a 2 m cell)."""
    path_ds: float = 0.05
    """Resampling step of the reference path [m]."""
    curve_speed_gain: float = 2.0
    """Speed limit on curves: v <= curve_speed_gain / |curvature| [m^2/s]."""
    curvature_window: float = 0.6
    """The curve speed limit uses the largest |curvature| within +- this along the path [m]."""
    brake_decel: float = 2.0
    """Deceleration the speed profile plans with before curves and the goal [m/s^2]."""
    goal_speed: float = 1.0
    """Speed limit at the goal point [m/s]."""
    # --- tracking
    lookahead_base: float = 0.6
    """Pure-pursuit lookahead distance at rest [m]."""
    lookahead_gain: float = 0.3
    """Lookahead grows by this times the speed [s]."""
    lookahead_max: float = 1.5
    """Largest lookahead [m]."""
    full_lock_angle: float = 1.3
    """Lookahead bearing off the heading beyond which the expert steers at full lock [rad]."""
    slow_angle: float = 0.8
    """Bearing beyond which the car slows to ``turn_speed`` [rad]."""
    turn_speed: float = 0.8
    """Speed limit while turning at full lock or with the path far off the heading [m/s]."""
    speed_preview: float = 0.4
    """The speed limit is read this far ahead in time [s] (the wheels slip; speed lags)."""
    speed_gain: float = 1.5
    """Wheel-speed target = (v_ref + speed_gain * (v_ref - v)) / WHEEL_RADIUS [1]."""
    reverse_wheel_speed: float = -20.0
    """Rear-wheel speed of the reversing leg of a three-point turn [rad/s] (about -1 m/s)."""
    reverse_times: tuple[float, ...] = (0.0, 0.8, 1.4)
    """Reversing durations tried for problems whose path starts behind the car [s] (0 = none)."""
    # --- DART-style noise injection (off by default)
    action_noise: float = 0.0
    """Std of the noise on the EXECUTED controls of noisy episodes, as a fraction of half of each
    control's range (40 rad/s, 0.5 rad); labels stay the clean controls. 0 = no noise."""
    noise_fraction: float = 1.0
    """Fraction of problems that get noise when ``action_noise`` > 0 [1]."""
    noise_hold: float = 0.2
    """Each noise sample is held for this long [s] (at least one control period)."""
    noisy_safety_margin: float = 0.0
    """Safety margin of noisy episodes instead of ``safety_margin`` [m]."""
    # --- batching
    batch_size: int = 64
    """Problems sampled together (their tries are simulated together)."""

    def __post_init__(self) -> None:
        positive = ("speed_min", "goal_radius", "timeout_factor", "path_ds", "curve_speed_gain", "brake_decel",
                    "goal_speed", "lookahead_base", "lookahead_max", "turn_speed", "speed_gain", "curvature_window",
                    "warmup_min", "warmup_wheel_min")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"RacecarExpertConfig.{name} must be positive, got {getattr(self, name)}")
        nonneg = ("moving_heading_noise", "warmup_steer", "start_offset", "goal_offset", "min_goal_distance",
                  "safety_margin", "timeout_extra", "corner_radius", "lookahead_gain", "speed_preview",
                  "action_noise", "noise_hold", "noisy_safety_margin", "max_goal_distance")
        for name in nonneg:
            if not getattr(self, name) >= 0:
                raise ValueError(f"RacecarExpertConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_goal_distance and self.max_goal_distance < self.min_goal_distance:
            raise ValueError(f"RacecarExpertConfig.max_goal_distance ({self.max_goal_distance}) is below "
                             f"min_goal_distance ({self.min_goal_distance})")
        for lo, hi in (("speed_min", "speed_max"), ("warmup_min", "warmup_max"),
                       ("warmup_wheel_min", "warmup_wheel_max"), ("lookahead_base", "lookahead_max")):
            if not getattr(self, lo) <= getattr(self, hi):
                raise ValueError(f"RacecarExpertConfig.{lo} ({getattr(self, lo)}) exceeds {hi} ({getattr(self, hi)})")
        for name in ("moving_start_prob", "noise_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"RacecarExpertConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if not 0 < self.slow_angle <= math.pi or not 0 < self.full_lock_angle <= math.pi:
            raise ValueError("RacecarExpertConfig.slow_angle and full_lock_angle must lie in (0, pi]")
        if not self.reverse_times or self.reverse_times[0] != 0 or min(self.reverse_times) < 0:
            raise ValueError(f"RacecarExpertConfig.reverse_times must start with 0 and be >= 0, got {self.reverse_times}")
        if not self.reverse_wheel_speed < 0:
            raise ValueError(f"RacecarExpertConfig.reverse_wheel_speed must be negative, got {self.reverse_wheel_speed}")
        if self.batch_size < 1:
            raise ValueError(f"RacecarExpertConfig.batch_size must be >= 1, got {self.batch_size}")

    @property
    def noisy(self) -> bool:
        """Whether some episodes get action noise (and the dataset records executed controls)."""
        return self.action_noise > 0 and self.noise_fraction > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RacecarExpertConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown RacecarExpertConfig fields: {sorted(unknown)}")
        d = dict(d)
        if "reverse_times" in d:
            d["reverse_times"] = tuple(d["reverse_times"])
        return cls(**d)


# --------------------------------------------------------------------------- control law
class RacecarPursuit:
    """Pure pursuit with a speed profile for a batch of tries (see the module docstring).

    ``turn_pref`` ``(B,)`` in {-1, +1}: side (+1 = left) of the first full-lock turn;
    ``reverse_steps`` ``(B,)``: control periods of reversing with the opposite lock first.
    """

    def __init__(self, car: Racecar, cfg: RacecarExpertConfig, refs: References, turn_pref: np.ndarray,
                 reverse_steps: np.ndarray) -> None:
        self.car, self.cfg, self.refs = car, cfg, refs
        B = len(refs.n)
        self.idx = np.zeros(B, dtype=np.int64)
        self.lock = np.zeros(B)
        self.first = np.ones(B, dtype=bool)
        self.turn_pref = np.asarray(turn_pref, dtype=float)
        self.reverse_steps = np.asarray(reverse_steps, dtype=np.int64)
        self.t = np.zeros(B, dtype=np.int64)
        self._window = math.ceil(2.0 / cfg.path_ds)
        self._steer_max = car.params.steer_max

    def __call__(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Controls ``(n, 2)`` = [wheel_speed rad/s, steer rad] for states ``x`` ``(n, 24)`` of tries ``rows``."""
        cfg, r = self.cfg, self.refs
        P = r.xy.shape[1]
        px, py, yaw = x[:, 0], x[:, 1], x[:, 2]
        v = self.car.speed(x)
        # progress: closest reference point in a window ahead of the previous one (monotone)
        win = np.minimum(self.idx[rows, None] + np.arange(self._window)[None, :], P - 1)
        pts = r.xy[rows[:, None], win]
        d2 = (pts[..., 0] - px[:, None]) ** 2 + (pts[..., 1] - py[:, None]) ** 2
        i0 = win[np.arange(len(rows)), d2.argmin(axis=1)]
        self.idx[rows] = i0
        # pure pursuit about the rear axle
        ld = np.minimum(cfg.lookahead_base + cfg.lookahead_gain * np.maximum(v, 0.0), cfg.lookahead_max)
        it = np.minimum(i0 + np.round(ld / cfg.path_ds).astype(np.int64), P - 1)
        rx, ry = px - CENTRE_OFFSET * np.cos(yaw), py - CENTRE_OFFSET * np.sin(yaw)
        tx, ty = r.xy[rows, it, 0] - rx, r.xy[rows, it, 1] - ry
        alpha = _wrap(np.arctan2(ty, tx) - yaw)
        dist = np.maximum(np.hypot(tx, ty), 1e-6)
        steer = np.clip(np.arctan(2 * WHEELBASE * np.sin(alpha) / dist), -self._steer_max, self._steer_max)
        # full lock (latched side) when the lookahead point lies far off the heading
        lock = self.lock[rows]
        start = (lock == 0) & (np.abs(alpha) > cfg.full_lock_angle)
        first = self.first[rows]
        side = np.where(first, self.turn_pref[rows], np.where(alpha >= 0, 1.0, -1.0))
        lock = np.where(start, side, lock)
        lock = np.where(np.abs(alpha) < cfg.full_lock_angle - 0.3, 0.0, lock)
        self.lock[rows] = lock
        self.first[rows] = first & ~start
        steer = np.where(lock != 0, lock * self._steer_max, steer)
        # speed: the limit read ahead, capped while turning hard
        iv = np.minimum(i0 + np.round(np.maximum(v, 0.0) * cfg.speed_preview / cfg.path_ds).astype(np.int64), P - 1)
        v_ref = r.vref[rows, iv]
        v_ref = np.where((np.abs(alpha) > cfg.slow_angle) | (lock != 0), np.minimum(v_ref, cfg.turn_speed), v_ref)
        wheel = (v_ref + cfg.speed_gain * (v_ref - v)) / WHEEL_RADIUS
        # three-point turn: reverse with the lock opposite to the coming forward turn first
        rev = self.t[rows] < self.reverse_steps[rows]
        self.t[rows] += 1
        wheel = np.where(rev, cfg.reverse_wheel_speed, wheel)
        steer = np.where(rev, -self.turn_pref[rows] * self._steer_max, steer)
        return self.car.clip_controls(np.stack([wheel, steer], -1))


# --------------------------------------------------------------------------- the runner
@dataclass
class RacecarBatch:
    """Kept episodes of a batch and the fate of every problem."""

    episodes: list[Episode]
    attempted: int
    rejected: dict[str, int]
    status: np.ndarray
    """Per problem ``(attempted,)``: 0 kept, 1 collision, 2 margin, 3 timeout, 4 failed validation."""
    moving: np.ndarray
    behind: np.ndarray
    noisy: np.ndarray
    tries: int
    reverse_used: int


class RacecarExpertRunner:
    """Runs batches of racecar expert episodes in one world (one process, one :class:`Racecar`)."""

    def __init__(self, world: GridMap, cfg: RacecarExpertConfig = RacecarExpertConfig(),
                 car: Racecar | None = None, validator: CollisionChecker | None = None) -> None:
        self.world, self.cfg = world, cfg
        self.car = car or Racecar()
        fp = self.car.footprint
        self.paths = GridPaths(world, diagonal=cfg.diagonal)
        self.exact = AnalyticCollisionChecker(world, fp)
        self.safe = AnalyticCollisionChecker(world, fp.inflated(cfg.safety_margin))
        self.safe_noisy = (AnalyticCollisionChecker(world, fp.inflated(cfg.noisy_safety_margin))
                           if cfg.noisy_safety_margin > 0 else self.exact)
        if validator is None:
            validator, self.validator_name = validation_checker(world, fp)
        else:
            self.validator_name = type(validator).__name__
        self.validator = validator
        for name in ("start_offset", "goal_offset"):
            if not getattr(cfg, name) < 0.5 * world.cell_size:
                raise DitreeInputError(f"RacecarExpertConfig.{name} = {getattr(cfg, name)} must stay below half a "
                                       f"cell ({0.5 * world.cell_size} m in map {world.name!r})")
        ok = np.isfinite(self.paths.dist) & (self.paths.dist >= cfg.min_goal_distance)
        if cfg.max_goal_distance > 0:
            ok &= self.paths.dist <= cfg.max_goal_distance
        if not ok.any():
            raise DitreeInputError(f"map {world.name!r} (cells of {world.cell_size} m) has no pair of connected free "
                                   f"cells {cfg.min_goal_distance}-{cfg.max_goal_distance or 'inf'} m apart along the grid "
                                   "(RacecarExpertConfig.min_goal_distance, max_goal_distance)")
        self._pair_ok = ok

    # ------------------------------------------------------------------ problems
    def sample_starts(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` start states ``(n, 24)`` collision-free with the safety margin, and their moving flags."""
        cfg, w, car = self.cfg, self.world, self.car
        cells = w.free_cells()
        dirs = np.array([[0, 1], [-1, 0], [0, -1], [1, 0]])  # (drow, dcol) for yaw 0, pi/2, pi, -pi/2
        rest = car.rest_state(0.0, 0.0, 0.0)
        out, moving_out = np.zeros((0, 24)), np.zeros(0, dtype=bool)
        for _ in range(100):
            if len(out) >= n:
                break
            m = 2 * (n - len(out)) + 4
            cell = cells[rng.integers(0, len(cells), size=m)]
            xy = w.cell_to_xy(cell[:, 0], cell[:, 1]) + rng.uniform(-1, 1, (m, 2)) * cfg.start_offset
            moving = rng.random(m) < cfg.moving_start_prob
            free_dir = ~w.is_wall_cell(cell[:, None, 0] + dirs[None, :, 0], cell[:, None, 1] + dirs[None, :, 1])
            k = np.where(free_dir, rng.random((m, 4)), -1.0).argmax(axis=1)
            yaw = np.where(moving, _wrap(k * (math.pi / 2) + rng.uniform(-1, 1, m) * cfg.moving_heading_noise),
                           rng.uniform(-math.pi, math.pi, m))
            steps = np.round(rng.uniform(cfg.warmup_min, cfg.warmup_max, m) / car.dt).astype(np.int64)
            wheel = rng.uniform(cfg.warmup_wheel_min, cfg.warmup_wheel_max, m)
            steer = rng.uniform(-1, 1, m) * cfg.warmup_steer
            x = np.tile(rest, (m, 1))
            x[:, 0], x[:, 1], x[:, 2] = xy[:, 0], xy[:, 1], yaw
            ok = ~self.safe.collides(x) & free_dir.any(axis=1)
            mv = np.flatnonzero(ok & moving)
            if len(mv):  # the warm-up drive, all together; every state up to the start checked
                T = int(steps[mv].max())
                u = np.broadcast_to(np.stack([wheel[mv], steer[mv]], -1)[:, None], (len(mv), T, 2)).copy()
                traj = car.rollout(x[mv], u)
                live = np.arange(T + 1)[None, :] <= steps[mv, None]
                hit = self.safe.collides(traj.reshape(-1, 24)).reshape(len(mv), T + 1) & live
                x[mv] = traj[np.arange(len(mv)), steps[mv]]
                ok[mv[hit.any(axis=1)]] = False
            out = np.concatenate([out, x[ok]])
            moving_out = np.concatenate([moving_out, moving[ok]])
        else:
            raise DitreeInputError(f"map {w.name!r}: found only {len(out)} of {n} collision-free racecar starts; "
                                   "is the map too cramped at this cell size?")
        return out[:n], moving_out[:n]

    def sample_problems(self, rng: np.random.Generator, n: int):
        """Starts ``(n, 24)``, moving flags, start cells, goals ``(n, 2)``, goal cells, cruising speeds ``(n,)``."""
        cfg = self.cfg
        starts, moving = self.sample_starts(rng, n)
        s_cells = self.world.xy_to_cell(starts[:, :2])
        ok = self._pair_ok[self.paths._index[s_cells[:, 0], s_cells[:, 1]]]
        count = ok.sum(axis=1)
        k = np.floor(rng.random(n) * np.maximum(count, 1)).astype(np.int64)
        pick = np.argmax(np.cumsum(ok, axis=1) > k[:, None], axis=1)
        goal_cells = self.paths.cells[pick]
        goals = self.world.cell_to_xy(goal_cells[:, 0], goal_cells[:, 1]) + rng.uniform(-1, 1, (n, 2)) * cfg.goal_offset
        v_des = rng.uniform(cfg.speed_min, cfg.speed_max, n)
        good = count > 0  # a start cell with no goal far enough: dropped (not counted as attempted)
        return starts[good], moving[good], s_cells[good], goals[good], goal_cells[good], v_des[good]

    # ------------------------------------------------------------------ simulation
    def simulate(self, starts, goals, refs: References, v_des, turn_pref, reverse_steps, noisy, noise_rng):
        """Roll the expert out from ``starts`` ``(B, 24)`` for every try at once. Returns states
        ``(B, T+1, 24)``, clean controls and executed controls ``(B, T, 2)``, status ``(B,)`` (0 goal,
        1 collision, 2 margin, 3 timeout) and ``end`` ``(B,)`` (index of the last state)."""
        cfg, car = self.cfg, self.car
        n = len(starts)
        law = RacecarPursuit(car, cfg, refs, turn_pref, reverse_steps)
        limit = np.ceil((cfg.timeout_factor * refs.length / v_des + cfg.timeout_extra) / car.dt).astype(np.int64)
        limit += reverse_steps
        T = int(limit.max())
        states = np.zeros((n, T + 1, 24))
        controls = np.zeros((n, T, 2))
        executed = np.zeros((n, T, 2)) if noisy.any() else controls
        states[:, 0] = starts
        status = np.full(n, -1, dtype=np.int64)
        end = np.full(n, T, dtype=np.int64)
        hold = max(1, round(cfg.noise_hold / car.dt))
        scale = cfg.action_noise * 0.5 * (car.control_high - car.control_low)
        noise = np.zeros((n, 2))
        r2 = cfg.goal_radius**2
        active = np.arange(n)
        for t in range(T):  # time is sequential; the batch is vectorised
            x = states[active, t]
            u = law(x, active)
            controls[active, t] = u
            if noisy.any():
                if t % hold == 0:  # drawn for every try, so the stream does not depend on who is active
                    noise = noise_rng.standard_normal((n, 2)) * scale * noisy[:, None]
                u = _f32(car.clip_controls(u + noise[active]))
                executed[active, t] = u
            else:
                u = controls[active, t] = _f32(u)
            xn = car.step(x, u)
            states[active, t + 1] = xn
            st = step_status(xn, goals[active], r2, noisy[active], t + 1 >= limit[active], self.exact, self.safe,
                             self.safe_noisy)
            done = st >= 0
            status[active[done]] = st[done]
            end[active[done]] = t + 1
            active = active[~done]
            if not len(active):
                break
        return states, controls, executed, status, end

    def run_batch(self, rng: np.random.Generator, n: int | None = None) -> RacecarBatch:
        """Sample up to ``n`` (default ``batch_size``) problems, try each, keep the shortest success."""
        cfg, car = self.cfg, self.car
        starts, moving, s_cells, goals, goal_cells, v_des = self.sample_problems(rng, n or cfg.batch_size)
        starts = _f32(starts)
        n = len(starts)
        noisy = rng.random(n) < cfg.noise_fraction if cfg.noisy else np.zeros(n, dtype=bool)
        noise_rng = np.random.default_rng(rng.integers(0, 2**63)) if cfg.noisy else None
        refs = build_references(self.paths, starts, s_cells, goals, goal_cells, v_des, cfg)
        # which side the path leaves on, seen from the rear axle
        lead = refs.xy[np.arange(n), np.minimum(round(1.0 / cfg.path_ds), refs.n - 1)]
        rear = starts[:, :2] - CENTRE_OFFSET * np.stack([np.cos(starts[:, 2]), np.sin(starts[:, 2])], -1)
        off = _wrap(np.arctan2(lead[:, 1] - rear[:, 1], lead[:, 0] - rear[:, 0]) - starts[:, 2])
        behind = np.abs(off) > cfg.full_lock_angle
        # tries: every problem once (first full-lock turn towards the path); problems behind the car
        # also to the other side, and both sides after each reversing time
        prob, side, rev = [np.arange(n)], [np.where(off >= 0, 1.0, -1.0)], [np.zeros(n, dtype=np.int64)]
        sel = np.flatnonzero(behind)
        for k, tr in enumerate(cfg.reverse_times):
            for sd in (1.0, -1.0):
                if k == 0:  # the towards-the-path side at 0 s is the first try already
                    s2 = sel[np.where(off[sel] >= 0, 1.0, -1.0) != sd]
                else:
                    s2 = sel
                prob.append(s2)
                side.append(np.full(len(s2), sd))
                rev.append(np.full(len(s2), round(tr / car.dt), dtype=np.int64))
        prob, side, rev = (np.concatenate(a) for a in (prob, side, rev))
        refs_t = References(refs.xy[prob], refs.vref[prob], refs.n[prob], refs.length[prob])
        states, controls, executed, st, end = self.simulate(starts[prob], goals[prob], refs_t, v_des[prob], side,
                                                           rev, noisy[prob], noise_rng)
        big = np.iinfo(np.int64).max
        cost = np.where(st == 0, end, big)
        order = np.lexsort((np.arange(len(prob)), cost, prob))
        _, first = np.unique(prob[order], return_index=True)
        choice = order[first]
        choice = np.where(cost[choice] < big, choice, np.arange(n))  # unsolved: report the first try
        status = st[choice].copy()
        kept = np.flatnonzero(status == 0)
        episodes: list[Episode] = []
        reverse_used = 0
        if len(kept):  # independent validation of every state of every kept episode, one query
            ch = choice[kept]
            mask = np.arange(states.shape[1])[None, :] <= end[ch, None]
            flat = self.validator.collides(states[ch][mask])
            bad = np.zeros(len(kept), dtype=bool)
            bad[np.repeat(np.arange(len(kept)), end[ch] + 1)[flat]] = True
            status[kept[bad]] = 4
            for e, c in zip(kept[~bad], ch[~bad]):
                k = end[c]
                episodes.append(Episode(states[c, :k].copy(), controls[c, :k].copy(), states[c, k].copy(),
                                        goals[e].copy(), executed[c, :k].copy()))
                reverse_used += int(rev[c] > 0)
        rejected = {reason: int(np.sum(status == code)) for code, reason in enumerate(REJECT_REASONS, start=1)}
        return RacecarBatch(episodes, n, rejected, status, moving, behind, noisy, len(prob), reverse_used)


# --------------------------------------------------------------------------- collection
def collect_worker(world: GridMap, cfg: RacecarExpertConfig, quota: int, seed: np.random.SeedSequence,
                   progress=None) -> WorkerOutput:
    """Collect ``quota`` kept episodes with a generator seeded by ``seed`` (one process);
    ``progress(k)`` is called with the number of newly kept episodes after every batch.
    ``WorkerOutput.swing_used`` counts episodes that reversed first (three-point turns)."""
    runner = RacecarExpertRunner(world, cfg)
    rng = np.random.default_rng(seed)
    out = WorkerOutput([], 0, 0, 0, 0, 0, {r: 0 for r in REJECT_REASONS}, 0, 0, 0, 0, runner.validator_name)
    try:
        while len(out.episodes) < quota:
            remaining = quota - len(out.episodes)
            res = runner.run_batch(rng, min(cfg.batch_size, max(8, math.ceil(1.5 * remaining))))
            ok = res.status == 0
            out.attempted += res.attempted
            out.solved += int(ok.sum())
            out.tries += res.tries
            out.swing_used += res.reverse_used
            for k, v in res.rejected.items():
                out.rejected[k] += v
            out.moving += int(res.moving.sum())
            out.behind += int(res.behind.sum())
            out.moving_solved += int((res.moving & ok).sum())
            out.behind_solved += int((res.behind & ok).sum())
            out.noisy += int(res.noisy.sum())
            out.noisy_solved += int((res.noisy & ok).sum())
            take = res.episodes[:remaining]
            out.episodes.extend(take)
            if progress is not None:
                progress(len(take))
    finally:
        runner.car.close()
    return out


def _worker_main(grid, cell_size, name, cfg_dict, quota, seed, queue, wid) -> None:  # pragma: no cover - subprocess
    try:
        out = collect_worker(GridMap(grid, cell_size, name), RacecarExpertConfig.from_dict(cfg_dict), quota, seed,
                             progress=lambda k: queue.put(("progress", wid, k)))
        queue.put(("done", wid, out))
    except BaseException as e:  # noqa: BLE001 - report anything, so that the parent does not wait forever
        import traceback

        queue.put(("error", wid, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def racecar_world(path, cell_size: float = RACECAR_CELL_SIZE) -> GridMap:
    """A map CSV loaded at the racecar's cell size (m)."""
    return GridMap.from_csv(path, cell_size=cell_size)


def collect(world: GridMap, episodes: int, seed: int, workers: int = 2,
            cfg: RacecarExpertConfig = RacecarExpertConfig(), progress: bool = True):
    """Collect ``episodes`` kept racecar episodes in ``world`` (use it at 2 m cells, e.g.
    :func:`racecar_world`) with ``workers`` processes.

    Worker ``w`` gets the ``w``-th child of ``np.random.SeedSequence(seed)`` and an equal share of
    the episodes; the same ``seed`` and ``workers`` give the same dataset. Returns an
    :class:`~ditree.data.dataset.ExpertDataset` with ``metadata["robot"] == "racecar"``.
    """
    from ditree.data.collection import collection_metadata, run_workers
    from ditree.data.dataset import ExpertDataset

    t0 = time.perf_counter()
    outs = run_workers(world, cfg, episodes, seed, workers, collect_worker, _worker_main, progress,
                       "racecar expert episodes")
    eps = [e for o in outs for e in o.episodes]
    meta = collection_metadata(Racecar(RacecarParams()), world, outs, cfg, REJECT_REASONS, seed, workers, t0,
                               {"reverse_used": sum(o.swing_used for o in outs)})
    return ExpertDataset.from_episodes(
        [e.states for e in eps], [e.controls for e in eps],
        np.array([e.final_state for e in eps]).reshape(-1, 24), np.array([e.goal for e in eps]).reshape(-1, 2),
        world, meta, executed=[e.executed for e in eps] if cfg.noisy else None)
