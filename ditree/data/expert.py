"""The expert whose demonstrations the DiTree policy imitates (docs/policy.md, 'Expert demonstrations').

One episode: a free start pose (at rest, or in motion along a corridor) and a free goal cell at
least ``min_goal_distance`` away along the grid. The expert

1. finds the grid shortest path (8-connected without corner cutting, :class:`GridPaths`),
2. rounds its corners with arcs (``corner_radius``) and resamples it every ``path_ds`` metres,
3. gives each point a speed limit: the episode's desired speed, lowered on curves
   (``v <= curve_speed_gain / |curvature|``: the steering angle ramps at 2 rad/s, so a curve needs
   ``v*kappa/(2*C2)`` metres of run-in) and before them (a braking-distance backward pass at
   ``brake_decel``), and ``goal_speed`` at the goal,
4. tracks it at 50 Hz with a pure-pursuit law that outputs the car's rate controls directly:
   the lookahead point (``lookahead_base + lookahead_gain*v`` metres ahead along the path) gives a
   desired steering angle (the arc through the lookahead point tangent to the velocity direction
   ``yaw + C1*delta``; full lock when the point lies more than ``full_lock_angle`` off the heading,
   which turns the car around when the goal is behind it), and the steering rate is
   ``steer_gain*(delta_des - delta)``, clipped; the throttle rate is
   ``throttle_gain*(D_des - D)``, clipped, where ``D_des`` inverts the force model for the
   acceleration ``speed_gain*(v_ref - v)``. A full-lock turn from (near) rest first steers, then
   drives, which gives the tightest circle (radius 1/(C2*0.4) = 0.16 m).
5. tries every problem several ways and keeps the shortest success: the first full-lock turn to
   the left and to the right; when the path starts behind the car, also after a swing-out to the
   other side of ``swing_times`` seconds (a U-turn in a 1-m corridor only fits with the margin
   when it starts off-centre); when the car is also moving, all of these after braking straight
   to a stop.

All episodes of a batch are simulated together with :meth:`Car.step` on ``(B, 6)`` arrays (the
loop is over time steps only). An episode is kept when it reaches the goal disc with the exact
footprint collision-free at every step and the footprint inflated by ``safety_margin`` as well,
within its time limit; kept episodes are re-validated by an independent checker (PyBullet when
``envs.pybullet_world`` is available, else the analytic checker again).

DART-style noise (``action_noise`` > 0, off by default): a fraction ``noise_fraction`` of the
problems executes the expert's control plus Gaussian noise held for ``noise_hold`` seconds
(clipped to the bounds), so the car leaves the reference path and the expert recovers. Every
visited state is labelled with the expert's CLEAN control there (``Episode.controls``); the
controls actually applied are recorded too (``Episode.executed``; they, not the labels,
re-simulate the states). Noisy episodes keep ``noisy_safety_margin`` (default 0: only the exact
footprint, everywhere along what was executed) instead of ``safety_margin``, since near-wall
recoveries are what they are for.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from ditree.data.gridpath import GridPaths, resample, round_corners
from envs.car import Car, wrap_angle
from envs.collision import AnalyticCollisionChecker, CollisionChecker, make_checker
from envs.errors import DitreeInputError
from envs.world import GridMap

REJECT_REASONS = ("collision", "margin", "timeout", "validation")


@dataclass(frozen=True)
class ExpertConfig:
    """Settings of the expert (units in brackets). Defaults are the ones the training set used."""

    # --- episodes
    speed_min: float = 2.0
    """Lowest desired cruising speed drawn per episode [m/s]."""
    speed_max: float = 4.0
    """Highest desired cruising speed drawn per episode [m/s] (the car tops out near 4)."""
    moving_start_prob: float = 0.4
    """Fraction of episodes that start in motion."""
    start_speed_min: float = 0.3
    """Lowest start speed of a moving start [m/s]."""
    start_speed_max: float = 3.0
    """Highest start speed of a moving start [m/s]."""
    moving_heading_noise: float = 0.4
    """A moving start heads along a free corridor direction +- this [rad]."""
    moving_delta_max: float = 0.15
    """A moving start's steering angle is uniform in +- this [rad]."""
    start_offset: float = 0.3
    """Start positions are uniform within +- this of a free cell's centre, per axis [m]."""
    goal_offset: float = 0.2
    """Goals are uniform within +- this of a free cell's centre, per axis [m]."""
    min_goal_distance: float = 3.0
    """Minimum grid geodesic between the start and goal cells [m]."""
    goal_radius: float = 0.5
    """An episode ends at the first state within this distance of the goal [m]."""
    safety_margin: float = 0.05
    """Kept episodes keep the footprint inflated by this much collision-free too [m]."""
    timeout_factor: float = 3.0
    """Time limit: this times the path length at the desired speed ...[1]"""
    timeout_extra: float = 4.0
    """... plus this [s] (a turn-around from a standstill takes a couple of seconds)."""
    # --- reference path
    diagonal: bool = True
    """8-connected grid paths without corner cutting (else 4-connected)."""
    corner_radius: float = 0.45
    """Radius of the arcs that round the grid path's corners [m] (at most half a cell keeps the
    arc inside the corridor)."""
    path_ds: float = 0.05
    """Resampling step of the reference path [m]."""
    curve_speed_gain: float = 5.0
    """Speed limit on curves: v <= curve_speed_gain / |curvature| [m^2/s]."""
    curvature_window: float = 0.4
    """The curve speed limit uses the largest |curvature| within +- this along the path [m]."""
    brake_decel: float = 3.0
    """Deceleration the speed profile plans with before curves and the goal [m/s^2]."""
    goal_speed: float = 1.5
    """Speed limit at the goal point [m/s]."""
    # --- tracking
    lookahead_base: float = 0.35
    """Pure-pursuit lookahead distance at rest [m]."""
    lookahead_gain: float = 0.15
    """Lookahead grows by this times the speed [s]."""
    lookahead_max: float = 1.0
    """Largest lookahead [m]."""
    full_lock_angle: float = 1.6
    """Lookahead bearing (off the heading) beyond which the expert steers at full lock [rad]."""
    turn_speed: float = 0.5
    """Speed limit while the lookahead point is more than ``slow_angle`` off the heading [m/s]."""
    lock_tolerance: float = 0.1
    """Below ``turn_speed``, a full-lock turn waits (v_ref = 0) until the steering angle is within
    this of full lock [rad]."""
    swing_steer: float = 0.25
    """Steering angle of the swing-out that may precede a turn-around [rad]."""
    swing_times: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
    """Swing-out durations tried for episodes that start with the path behind the car [s]."""
    stop_speed: float = 0.1
    """A start in motion with the path behind it is also tried braking straight to below this
    speed before turning [m/s]."""
    slow_angle: float = 0.9
    """Bearing beyond which the car slows to ``turn_speed`` [rad]."""
    steer_gain: float = 15.0
    """Steering rate = steer_gain * (delta_des - delta), clipped to +-2 rad/s [1/s]."""
    speed_preview: float = 0.25
    """The speed reference is read this far ahead in time [s] (the throttle lags)."""
    speed_gain: float = 4.0
    """Desired acceleration = speed_gain * (v_ref - v) [1/s]."""
    throttle_gain: float = 20.0
    """Throttle rate = throttle_gain * (D_des - D), clipped to +-10 1/s [1/s]."""
    # --- DART-style noise injection (off by default: the shipped data were collected without it)
    action_noise: float = 0.0
    """Std of the Gaussian noise added to the EXECUTED rate controls of noisy episodes, as a
    fraction of each control's bound (``dD_max``, ``ddelta_max``); the sum is clipped to the
    bounds. The dataset still records the expert's clean control at every visited state (the
    label) and, separately, the executed one. 0 = no noise."""
    noise_fraction: float = 1.0
    """Fraction of episodes (problems) that get noise when ``action_noise`` > 0 [1]."""
    noise_hold: float = 0.2
    """Each noise sample is held for this long before the next is drawn [s] (at least one 0.02 s
    step): white noise on a rate control is smoothed away by the expert's steering loop, held
    noise pushes the car off its path so that the data show recoveries."""
    noisy_safety_margin: float = 0.0
    """Safety margin kept by noisy episodes instead of ``safety_margin`` [m] (they are meant to
    contain near-wall recoveries; the exact footprint is always collision-free)."""
    # --- batching
    batch_size: int = 256
    """Episodes simulated together."""

    def __post_init__(self) -> None:
        positive = ("speed_min", "goal_radius", "timeout_factor", "path_ds", "curve_speed_gain", "brake_decel",
                    "goal_speed", "lookahead_base", "lookahead_max", "turn_speed", "steer_gain", "speed_gain",
                    "throttle_gain", "curvature_window", "stop_speed")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ExpertConfig.{name} must be positive, got {getattr(self, name)}")
        nonneg = ("start_speed_min", "moving_heading_noise", "moving_delta_max", "start_offset", "goal_offset",
                  "min_goal_distance", "safety_margin", "timeout_extra", "corner_radius", "lookahead_gain",
                  "speed_preview", "action_noise", "noise_hold", "noisy_safety_margin")
        for name in nonneg:
            if not getattr(self, name) >= 0:
                raise ValueError(f"ExpertConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not self.speed_min <= self.speed_max:
            raise ValueError(f"ExpertConfig.speed_min ({self.speed_min}) exceeds speed_max ({self.speed_max})")
        if not self.start_speed_min <= self.start_speed_max:
            raise ValueError("ExpertConfig.start_speed_min exceeds start_speed_max")
        if not 0.0 <= self.noise_fraction <= 1.0:
            raise ValueError(f"ExpertConfig.noise_fraction must lie in [0, 1], got {self.noise_fraction}")
        if not 0.0 <= self.moving_start_prob <= 1.0:
            raise ValueError(f"ExpertConfig.moving_start_prob must lie in [0, 1], got {self.moving_start_prob}")
        if not 0 < self.slow_angle <= math.pi or not 0 < self.full_lock_angle <= math.pi:
            raise ValueError("ExpertConfig.slow_angle and full_lock_angle must lie in (0, pi]")
        if not self.swing_times or min(self.swing_times) < 0 or self.swing_times[0] != 0:
            raise ValueError(f"ExpertConfig.swing_times must start with 0 and be >= 0, got {self.swing_times}")
        if self.batch_size < 1:
            raise ValueError(f"ExpertConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.lookahead_max < self.lookahead_base:
            raise ValueError("ExpertConfig.lookahead_max must be >= lookahead_base")

    @property
    def noisy(self) -> bool:
        """Whether some episodes get action noise (and the dataset records executed controls)."""
        return self.action_noise > 0 and self.noise_fraction > 0

    def to_dict(self) -> dict:
        """All fields; without noise, the noise fields at their defaults are left out, so that data
        collected without noise keep the metadata (and content hash) they had before noise existed."""
        d = asdict(self)
        if not self.noisy:
            for name in _NOISE_FIELDS:
                if d[name] == _NOISE_DEFAULTS[name]:
                    del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ExpertConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ExpertConfig fields: {sorted(unknown)}")
        d = dict(d)
        if "swing_times" in d:
            d["swing_times"] = tuple(d["swing_times"])
        return cls(**d)


_NOISE_FIELDS = ("action_noise", "noise_fraction", "noise_hold", "noisy_safety_margin")
_NOISE_DEFAULTS = {name: ExpertConfig.__dataclass_fields__[name].default for name in _NOISE_FIELDS}


@dataclass
class Episode:
    """One demonstration: ``states`` ``(T, 6)``, the expert's clean ``controls`` ``(T, 2)`` at
    them, the state after the last control ``final_state`` ``(6,)``, the goal xy ``(2,)``, and the
    ``executed`` controls ``(T, 2)`` that produced the states (the clean ones plus noise; equal to
    ``controls`` without noise)."""

    states: np.ndarray
    controls: np.ndarray
    final_state: np.ndarray
    goal: np.ndarray
    executed: np.ndarray | None = None


@dataclass
class BatchResult:
    """Kept episodes of a batch and the fate of every attempt."""

    episodes: list[Episode]
    attempted: int
    rejected: dict[str, int] = field(default_factory=lambda: {r: 0 for r in REJECT_REASONS})
    status: np.ndarray | None = None
    """Per attempt ``(attempted,)``: 0 kept, 1 collision, 2 margin, 3 timeout, 4 failed validation."""
    moving: np.ndarray | None = None
    """Per attempt: whether it started in motion."""
    behind: np.ndarray | None = None
    """Per attempt: whether the path left the start more than 90 degrees off the heading."""
    failed: list[Episode] = field(default_factory=list)
    """With ``keep_failed``: every failed try of every unsolved problem ..."""
    failed_problem: np.ndarray | None = None
    """... and the problem (index in this batch) each belongs to."""
    tries: int = 0
    """Simulated tries (problems times variants)."""
    swing_used: int = 0
    """Kept episodes whose chosen try swings out before turning around."""
    brake_used: int = 0
    """Kept episodes whose chosen try brakes to a stop before turning around."""
    noisy: np.ndarray | None = None
    """Per attempt: whether it executed noisy controls."""


# --------------------------------------------------------------------------- sampling
def _steady_throttle(car: Car, v: np.ndarray) -> np.ndarray:
    """Throttle D holding speed ``v`` (m/s) on a straight."""
    p = car.params
    return (p.Cr2 * v**2 + p.Cr0 * np.tanh(5 * v)) / (p.Cm1 - p.Cm2 * v)


def sample_starts(
    world: GridMap, car: Car, cfg: ExpertConfig, rng: np.random.Generator, n: int, checker: CollisionChecker
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` start states ``(n, 6)`` whose ``checker`` footprint is collision-free, and their cells
    ``(n, 2)``. A fraction ``moving_start_prob`` is in motion, heading along a free corridor."""
    cells = world.free_cells()
    out = np.zeros((0, 6))
    out_cells = np.zeros((0, 2), dtype=np.int64)
    dirs = np.array([[0, 1], [-1, 0], [0, -1], [1, 0]])  # (drow, dcol) for yaw 0, pi/2, pi, -pi/2
    for _ in range(1000):
        if len(out) >= n:
            break
        m = 2 * (n - len(out)) + 8
        cell = cells[rng.integers(0, len(cells), size=m)]
        xy = world.cell_to_xy(cell[:, 0], cell[:, 1]) + rng.uniform(-1, 1, (m, 2)) * cfg.start_offset
        moving = rng.random(m) < cfg.moving_start_prob
        yaw = rng.uniform(-math.pi, math.pi, m)
        # moving starts head along one of the cell's free 4-neighbour directions
        free_dir = ~world.is_wall_cell(cell[:, None, 0] + dirs[None, :, 0], cell[:, None, 1] + dirs[None, :, 1])
        score = np.where(free_dir, rng.random((m, 4)), -1.0)
        k = score.argmax(axis=1)
        yaw_mov = k * (math.pi / 2) + rng.uniform(-1, 1, m) * cfg.moving_heading_noise
        yaw = np.where(moving, wrap_angle(yaw_mov), yaw)
        v = np.where(moving, rng.uniform(cfg.start_speed_min, cfg.start_speed_max, m), 0.0)
        D = np.where(moving, np.clip(_steady_throttle(car, v) + rng.normal(0, 0.1, m), car.params.D_min,
                                     car.params.D_max), 0.0)
        delta = np.where(moving, rng.uniform(-1, 1, m) * cfg.moving_delta_max, 0.0)
        x = np.stack([xy[:, 0], xy[:, 1], yaw, v, D, delta], -1)
        ok = ~checker.collides(x) & free_dir.any(axis=1)
        out = np.concatenate([out, x[ok]])
        out_cells = np.concatenate([out_cells, world.xy_to_cell(xy[ok])])
    else:
        raise DitreeInputError(f"map {world.name!r}: found only {len(out)} of {n} collision-free start poses "
                               f"(footprint {checker.footprint}); is the map too cramped?")
    return out[:n], out_cells[:n]


# --------------------------------------------------------------------------- references
@dataclass
class References:
    """Padded reference paths of a batch: ``xy`` ``(B, P, 2)``, ``vref`` ``(B, P)`` speed limits,
    ``n`` ``(B,)`` points up to the goal (the rest is a straight run-out past it), ``length``
    ``(B,)`` metres up to the goal."""

    xy: np.ndarray
    vref: np.ndarray
    n: np.ndarray
    length: np.ndarray


def build_references(
    paths: GridPaths, starts: np.ndarray, start_cells: np.ndarray, goals: np.ndarray, goal_cells: np.ndarray,
    v_des: np.ndarray, cfg: ExpertConfig,
) -> References:
    """Smoothed, resampled reference paths with speed profiles for a batch of episodes."""
    world = paths.world
    ds = cfg.path_ds
    runout = cfg.lookahead_max + 4 * ds
    xys, kappas = [], []
    for b in range(len(starts)):  # geometry per episode: a few small numpy calls each
        a = paths.index_of(*start_cells[b])
        g = paths.index_of(*goal_cells[b])
        centres = world.cell_to_xy(*paths.cell_path(a, g).T)
        poly = np.concatenate([starts[b, None, :2], centres[1:-1], goals[b, None]])
        xy, heading, kappa = resample(round_corners(poly, cfg.corner_radius, step=0.5 * ds), ds)
        ext = xy[-1] + np.arange(1, math.ceil(runout / ds) + 1)[:, None] * ds * np.array(
            [math.cos(heading[-1]), math.sin(heading[-1])])
        xys.append(np.concatenate([xy, ext]))
        kappas.append(np.r_[kappa, np.zeros(len(ext))])
    B = len(starts)
    n = np.array([len(x) for x in xys]) - math.ceil(runout / ds)
    P = max(len(x) for x in xys)
    xy = np.zeros((B, P, 2))
    kap = np.zeros((B, P))
    for b in range(B):
        L = len(xys[b])
        xy[b, :L] = xys[b]
        xy[b, L:] = xys[b][-1]
        kap[b, :L] = np.abs(kappas[b])
    # largest |curvature| in a window around each point
    w = max(1, round(cfg.curvature_window / ds))
    pad = np.pad(kap, ((0, 0), (w, w)))
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1, axis=1).max(axis=-1)
    vref = np.minimum(v_des[:, None], cfg.curve_speed_gain / np.maximum(win, 1e-9))
    idx = np.arange(P)[None, :]
    vref = np.where(idx >= n[:, None] - 1, np.minimum(vref, cfg.goal_speed), vref)
    # backward pass: be able to brake at brake_decel to every later limit
    for i in range(P - 2, -1, -1):
        vref[:, i] = np.minimum(vref[:, i], np.sqrt(vref[:, i + 1] ** 2 + 2 * cfg.brake_decel * ds))
    length = (n - 1) * ds
    return References(xy, vref, n, length)


# --------------------------------------------------------------------------- control law
class PurePursuitExpert:
    """The tracking law, vectorised over a batch (see the module docstring).

    ``turn_pref`` ``(B,)`` in {-1, +1}: the side (+1 = left) of the first full-lock turn; later
    full-lock turns go towards the lookahead point. A full-lock turn, once begun, keeps its side
    until the lookahead bearing falls below ``full_lock_angle - 0.2`` rad (no chattering when the
    point lies straight behind).
    """

    def __init__(self, car: Car, cfg: ExpertConfig, refs: References, turn_pref: np.ndarray,
                 pre_steps: np.ndarray | None = None, brake_first: np.ndarray | None = None) -> None:
        self.car = car
        self.cfg = cfg
        self.refs = refs
        B = len(refs.n)
        self.idx = np.zeros(B, dtype=np.int64)
        self.lock = np.zeros(B)
        self.first = np.ones(B, dtype=bool)
        self.turn_pref = np.asarray(turn_pref, dtype=float)
        self.pre_steps = np.zeros(B, dtype=np.int64) if pre_steps is None else np.asarray(pre_steps)
        self.braking = np.zeros(B, dtype=bool) if brake_first is None else np.asarray(brake_first, dtype=bool).copy()
        self.t = np.zeros(B, dtype=np.int64)
        self._window = math.ceil(1.5 / cfg.path_ds)

    def __call__(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Controls ``(n, 2)`` for states ``x`` ``(n, 6)`` of batch episodes ``rows`` ``(n,)``."""
        cfg, p, r = self.cfg, self.car.params, self.refs
        P = r.xy.shape[1]
        px, py, yaw, v, D, delta = x.T
        # progress: closest reference point in a window ahead of the previous one (monotone)
        win = np.minimum(self.idx[rows, None] + np.arange(self._window)[None, :], P - 1)
        pts = r.xy[rows[:, None], win]
        d2 = (pts[..., 0] - px[:, None]) ** 2 + (pts[..., 1] - py[:, None]) ** 2
        i0 = win[np.arange(len(rows)), d2.argmin(axis=1)]
        self.idx[rows] = i0
        # lookahead point -> desired steering angle (pure pursuit about the velocity direction)
        L = np.minimum(cfg.lookahead_base + cfg.lookahead_gain * v, cfg.lookahead_max)
        it = np.minimum(i0 + np.round(L / cfg.path_ds).astype(np.int64), P - 1)
        tx, ty = r.xy[rows, it, 0] - px, r.xy[rows, it, 1] - py
        bearing = np.arctan2(ty, tx)
        dist = np.maximum(np.hypot(tx, ty), 1e-6)
        d_des = delta.copy()
        for _ in range(3):  # the velocity direction yaw + C1*delta depends on the steering itself
            alpha = wrap_angle(bearing - yaw - p.C1 * d_des)
            d_des = np.clip(2 * np.sin(alpha) / (dist * p.C2), p.delta_min, p.delta_max)
        off = wrap_angle(bearing - yaw)
        # full lock (latched side) when the lookahead point lies far off the heading
        lock = self.lock[rows]
        start = (lock == 0) & (np.abs(off) > cfg.full_lock_angle)
        first = self.first[rows]
        side = np.where(first, self.turn_pref[rows], np.where(off >= 0, 1.0, -1.0))
        lock = np.where(start, side, lock)
        lock = np.where(np.abs(off) < cfg.full_lock_angle - 0.2, 0.0, lock)
        self.lock[rows] = lock
        self.first[rows] = first & ~start
        d_des = np.where(lock > 0, p.delta_max, np.where(lock < 0, p.delta_min, d_des))
        # turn-around set-up: first swing out to the side opposite the coming full-lock turn
        # (tries that brake first: straight to a stop, then everything else; the swing-out clock
        # starts when the car has stopped)
        braking = self.braking[rows] & (v >= cfg.stop_speed)
        self.braking[rows] = braking
        pre = ~braking & (self.t[rows] < self.pre_steps[rows])
        self.t[rows] += ~braking
        d_des = np.where(pre, -self.turn_pref[rows] * cfg.swing_steer, d_des)
        d_des = np.where(braking, 0.0, d_des)
        ddelta = np.clip(cfg.steer_gain * (d_des - delta), -p.ddelta_max, p.ddelta_max)
        # speed reference read ahead, capped while the path lies well off the heading
        iv = np.minimum(i0 + np.round(v * cfg.speed_preview / cfg.path_ds).astype(np.int64), P - 1)
        v_ref = r.vref[rows, iv]
        v_ref = np.where((np.abs(off) > cfg.slow_angle) | (lock != 0), np.minimum(v_ref, cfg.turn_speed), v_ref)
        # a full-lock turn from (nearly) rest: steer first, then drive (tightest circle)
        v_ref = np.where(pre, np.minimum(v_ref, cfg.turn_speed), v_ref)
        wait = ((lock != 0) | pre) & (np.abs(d_des - delta) > cfg.lock_tolerance) & (v < cfg.turn_speed)
        v_ref = np.where(wait | braking, 0.0, v_ref)
        a_des = cfg.speed_gain * (v_ref - v)
        F = p.m * a_des / np.cos(p.C1 * delta)
        D_des = (F + p.Cr2 * v**2 + p.Cr0 * np.tanh(5 * v)) / (p.Cm1 - p.Cm2 * v)
        D_des = np.clip(D_des, p.D_min, p.D_max)
        dD = np.clip(cfg.throttle_gain * (D_des - D), -p.dD_max, p.dD_max)
        return np.stack([dD, ddelta], -1)


# --------------------------------------------------------------------------- episodes
def step_status(xn: np.ndarray, goals: np.ndarray, r2: float, noisy: np.ndarray, out_of_time: np.ndarray,
                exact: CollisionChecker, safe: CollisionChecker, safe_noisy: CollisionChecker | None) -> np.ndarray:
    """Status ``(n,)`` of n episodes after a step to states ``xn`` ``(n, S)``: -1 running, 0 in the
    goal disc (``goals`` ``(n, 2)``, squared radius ``r2``), 1 collided (``exact`` footprint), 2
    inside the safety margin (``safe``; ``safe_noisy`` for the ``noisy`` rows), 3 out of time
    (``out_of_time`` and none of the others). Collision outranks the margin, the margin the goal."""
    hit_safe = safe.collides(xn)
    if noisy.any():
        hit_safe[noisy] = safe_noisy.collides(xn[noisy])
    hit = np.zeros_like(hit_safe)
    if hit_safe.any():
        hit[hit_safe] = exact.collides(xn[hit_safe])
    st = np.full(len(xn), -1)
    st[np.sum((xn[:, :2] - goals) ** 2, axis=1) <= r2] = 0
    st[hit_safe] = 2
    st[hit] = 1
    st[(st < 0) & out_of_time] = 3
    return st


def validation_checker(world: GridMap, footprint) -> tuple[CollisionChecker, str]:
    """The independent checker kept episodes are validated with, and its name: PyBullet when it can
    be built, else (with a warning) the analytic checker."""
    try:
        return make_checker(world, footprint, backend="pybullet"), "pybullet"
    except Exception as e:  # noqa: BLE001 - any failure to build PyBullet falls back, loudly
        warnings.warn(f"PyBullet collision checker unavailable ({type(e).__name__}: {e}); "
                      "validating expert episodes with the analytic checker", stacklevel=2)
        return AnalyticCollisionChecker(world, footprint), "analytic"


@dataclass
class Simulation:
    """Raw outcome of :meth:`ExpertRunner.simulate` for ``B`` attempts: ``states`` ``(B, T+1, 6)``,
    clean expert ``controls`` ``(B, T, 2)``, ``status`` ``(B,)`` (0 goal, 1 collision, 2 margin,
    3 timeout), ``end`` ``(B,)``: the index of the last state (goal reached, first bad state, or
    time limit), and the ``executed`` controls ``(B, T, 2)`` (clean plus noise)."""

    states: np.ndarray
    controls: np.ndarray
    status: np.ndarray
    end: np.ndarray
    executed: np.ndarray

    def episode(self, c: int, goal: np.ndarray) -> Episode:
        """Attempt ``c`` as an :class:`Episode` up to its end."""
        e = self.end[c]
        return Episode(self.states[c, :e].copy(), self.controls[c, :e].copy(), self.states[c, e].copy(),
                       goal.copy(), self.executed[c, :e].copy())


class ExpertRunner:
    """Runs batches of expert episodes in one world (one process)."""

    def __init__(self, world: GridMap, cfg: ExpertConfig = ExpertConfig(), car: Car | None = None,
                 validator: CollisionChecker | None = None) -> None:
        self.world = world
        self.cfg = cfg
        self.car = car or Car()
        self.paths = GridPaths(world, diagonal=cfg.diagonal)
        self.exact = AnalyticCollisionChecker(world, self.car.footprint)
        self.safe = AnalyticCollisionChecker(world, self.car.footprint.inflated(cfg.safety_margin))
        self.safe_noisy = (AnalyticCollisionChecker(world, self.car.footprint.inflated(cfg.noisy_safety_margin))
                           if cfg.noisy_safety_margin > 0 else self.exact)
        if validator is None:
            validator, self.validator_name = validation_checker(world, self.car.footprint)
        else:
            self.validator_name = type(validator).__name__
        self.validator = validator
        ok = np.isfinite(self.paths.dist) & (self.paths.dist >= cfg.min_goal_distance)
        if not ok.any():
            raise DitreeInputError(f"map {world.name!r} has no pair of connected free cells "
                                   f"{cfg.min_goal_distance} m apart along the grid (ExpertConfig.min_goal_distance)")
        for name in ("start_offset", "goal_offset"):
            if not getattr(cfg, name) < 0.5 * world.cell_size:
                raise ValueError(f"ExpertConfig.{name} = {getattr(cfg, name)} must stay below half a cell "
                                 f"({0.5 * world.cell_size} m in map {world.name!r})")
        self._pair_ok = ok

    def sample_problems(self, rng: np.random.Generator, n: int):
        """Starts ``(n, 6)``, their cells, goals ``(n, 2)``, goal cells and desired speeds ``(n,)``."""
        cfg = self.cfg
        starts, s_cells = sample_starts(self.world, self.car, cfg, rng, n, self.safe)
        s_idx = self.paths._index[s_cells[:, 0], s_cells[:, 1]]
        ok = self._pair_ok[s_idx]
        count = ok.sum(axis=1)
        # a goal cell uniformly among those far enough along the grid (every free cell of a
        # connected map has some, else the start is resampled)
        k = np.floor(rng.random(n) * np.maximum(count, 1)).astype(np.int64)
        pick = np.argmax(np.cumsum(ok, axis=1) > k[:, None], axis=1)
        bad = count == 0
        if bad.any():
            s2, c2, g2, gc2, v2 = self.sample_problems(rng, int(bad.sum()))
        goal_cells = self.paths.cells[pick]
        goals = self.world.cell_to_xy(goal_cells[:, 0], goal_cells[:, 1]) + rng.uniform(-1, 1, (n, 2)) * cfg.goal_offset
        v_des = rng.uniform(cfg.speed_min, cfg.speed_max, n)
        if bad.any():
            starts[bad], s_cells[bad], goals[bad], goal_cells[bad], v_des[bad] = s2, c2, g2, gc2, v2
        return starts, s_cells, goals, goal_cells, v_des

    def simulate(self, starts: np.ndarray, goals: np.ndarray, refs: References, v_des: np.ndarray,
                 turn_pref: np.ndarray, pre_steps: np.ndarray | None = None,
                 brake_first: np.ndarray | None = None, noisy: np.ndarray | None = None,
                 noise_rng: np.random.Generator | None = None) -> Simulation:
        """Roll the expert out from ``starts`` ``(B, 6)`` towards ``goals`` ``(B, 2)``, all at once.

        Attempts with ``noisy`` ``(B,)`` set execute the expert's control plus held Gaussian noise
        (``ExpertConfig.action_noise``, drawn from ``noise_rng``) and keep
        ``noisy_safety_margin`` instead of ``safety_margin``."""
        cfg, car = self.cfg, self.car
        n = len(starts)
        law = PurePursuitExpert(car, cfg, refs, turn_pref, pre_steps, brake_first)
        limit = np.ceil((cfg.timeout_factor * refs.length / v_des + cfg.timeout_extra) / car.dt).astype(np.int64)
        T = int(limit.max())
        states = np.zeros((n, T + 1, 6))
        controls = np.zeros((n, T, 2))
        executed = controls  # the same array unless there is noise
        states[:, 0] = starts
        status = np.full(n, -1, dtype=np.int64)
        end = np.full(n, T, dtype=np.int64)
        r2 = cfg.goal_radius**2
        noisy = np.zeros(n, dtype=bool) if noisy is None else np.asarray(noisy, dtype=bool)
        if noisy.any():
            if noise_rng is None:
                raise ValueError("simulate: noisy attempts need a noise_rng")
            executed = np.zeros((n, T, 2))
            hold = max(1, round(cfg.noise_hold / car.dt))
            scale = cfg.action_noise * np.array([car.params.dD_max, car.params.ddelta_max])
            low, high = car.control_low, car.control_high
            noise = np.zeros((n, 2))
        active = np.arange(n)
        for t in range(T):  # time is sequential; the batch is vectorised
            x = states[active, t]
            u = law(x, active)
            controls[active, t] = u
            if noisy.any():
                if t % hold == 0:  # drawn for every attempt, so the stream does not depend on who is active
                    noise = noise_rng.standard_normal((n, 2)) * scale * noisy[:, None]
                u = np.clip(u + noise[active], low, high)
                executed[active, t] = u
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
        return Simulation(states, controls, status, end, executed)

    def run_batch(self, rng: np.random.Generator, n: int | None = None, keep_failed: bool = False) -> BatchResult:
        """Sample ``n`` (default ``batch_size``) problems, simulate the expert on each, keep the good ones.

        Every problem is tried with its first full-lock turn (if any) to the left and to the right;
        a problem whose path starts behind the car is also tried with each swing-out of
        ``swing_times``, and if it starts in motion, with all of these after braking straight to
        a stop. The shortest successful try is kept. ``keep_failed`` also returns every try
        of unsolved problems (in ``failed``, for pictures and diagnosis).
        """
        n = n or self.cfg.batch_size
        problems = self.sample_problems(rng, n)
        noisy = noise_rng = None
        if self.cfg.noisy:  # no extra draws without noise: the default data stay byte-identical
            noisy = rng.random(n) < self.cfg.noise_fraction
            noise_rng = np.random.default_rng(rng.integers(0, 2**63))
        return self.solve(*problems, keep_failed=keep_failed, noisy=noisy, noise_rng=noise_rng)

    def solve(self, starts: np.ndarray, s_cells: np.ndarray, goals: np.ndarray, goal_cells: np.ndarray,
              v_des: np.ndarray, keep_failed: bool = False, noisy: np.ndarray | None = None,
              noise_rng: np.random.Generator | None = None) -> BatchResult:
        """Run the expert's tries on given problems: ``starts`` ``(n, 6)`` in cells ``s_cells``
        ``(n, 2)``, ``goals`` ``(n, 2)`` in cells ``goal_cells``, desired speeds ``v_des`` ``(n,)``
        (see :meth:`run_batch`); problems with ``noisy`` ``(n,)`` set execute noisy controls drawn
        from ``noise_rng`` (see :meth:`simulate`)."""
        cfg = self.cfg
        n = len(starts)
        noisy = np.zeros(n, dtype=bool) if noisy is None else np.asarray(noisy, dtype=bool)
        refs = build_references(self.paths, starts, s_cells, goals, goal_cells, v_des, cfg)
        lead = refs.xy[np.arange(n), np.minimum(round(0.5 / cfg.path_ds), refs.n - 1)] - starts[:, :2]
        behind = np.abs(wrap_angle(np.arctan2(lead[:, 1], lead[:, 0]) - starts[:, 2])) > math.pi / 2
        # the tries: (problem, side, swing steps)
        prob, side, swing, brake = [], [], [], []
        moving_behind = behind & (starts[:, 3] > 0)
        for stop in (False, True):
            for k, ts in enumerate(cfg.swing_times):
                if stop:
                    sel = np.flatnonzero(moving_behind)
                else:
                    sel = np.arange(n) if k == 0 else np.flatnonzero(behind)
                for sd in (1.0, -1.0):
                    prob.append(sel)
                    side.append(np.full(len(sel), sd))
                    swing.append(np.full(len(sel), round(ts / self.car.dt)))
                    brake.append(np.full(len(sel), stop))
        prob, side, swing, brake = (np.concatenate(a) for a in (prob, side, swing, brake))
        refs_t = References(refs.xy[prob], refs.vref[prob], refs.n[prob], refs.length[prob])
        sim = self.simulate(starts[prob], goals[prob], refs_t, v_des[prob], side, swing, brake, noisy[prob],
                            noise_rng)
        # per problem: the shortest successful try, else the first try
        big = np.iinfo(np.int64).max
        cost = np.where(sim.status == 0, sim.end, big)
        order = np.lexsort((np.arange(len(prob)), cost, prob))  # by problem, then cost, then try
        _, first = np.unique(prob[order], return_index=True)
        choice = order[first]
        choice = np.where(cost[choice] < big, choice, np.arange(n))  # unsolved: report the first try
        status = sim.status[choice].copy()
        result = BatchResult([], n, moving=starts[:, 3] > 0, behind=behind, tries=len(prob), noisy=noisy)
        kept = np.flatnonzero(status == 0)
        if len(kept):
            # independent validation of every state of every kept episode, one batched query
            ch = choice[kept]
            mask = np.arange(sim.states.shape[1])[None, :] <= sim.end[ch, None]
            flat = self.validator.collides(sim.states[ch][mask])
            rows = np.repeat(np.arange(len(kept)), sim.end[ch] + 1)
            bad = np.zeros(len(kept), dtype=bool)
            bad[rows[flat]] = True
            status[kept[bad]] = 4
            for e, c in zip(kept[~bad], ch[~bad]):
                result.episodes.append(sim.episode(c, goals[e]))
                result.swing_used += int(swing[c] > 0)
                result.brake_used += int(brake[c])
        for code, reason in ((1, "collision"), (2, "margin"), (3, "timeout"), (4, "validation")):
            result.rejected[reason] += int(np.sum(status == code))
        result.status = status
        if keep_failed:
            failed = np.flatnonzero(status[prob] != 0)
            result.failed = [sim.episode(c, goals[prob[c]]) for c in failed]
            result.failed_problem = prob[failed]
        return result


# --------------------------------------------------------------------------- collection
@dataclass
class WorkerOutput:
    """What one collection worker hands back: its kept episodes (at most its quota) and counts."""

    episodes: list[Episode]
    attempted: int
    solved: int
    tries: int
    swing_used: int
    brake_used: int
    rejected: dict[str, int]
    moving: int
    behind: int
    moving_solved: int
    behind_solved: int
    validator: str
    noisy: int = 0
    noisy_solved: int = 0


def collect_worker(world: GridMap, cfg: ExpertConfig, quota: int, seed: np.random.SeedSequence,
                   progress=None) -> WorkerOutput:
    """Collect ``quota`` kept episodes with a generator seeded by ``seed``; ``progress(k)`` is
    called with the number of newly kept episodes after every batch."""
    runner = ExpertRunner(world, cfg)
    rng = np.random.default_rng(seed)
    out = WorkerOutput([], 0, 0, 0, 0, 0, {r: 0 for r in REJECT_REASONS}, 0, 0, 0, 0, runner.validator_name)
    while len(out.episodes) < quota:
        remaining = quota - len(out.episodes)
        # small requests get small batches (a deterministic function of what is still missing)
        n = min(cfg.batch_size, max(8, math.ceil(1.3 * remaining)))
        res = runner.run_batch(rng, n)
        out.attempted += res.attempted
        out.solved += len(res.episodes)
        out.tries += res.tries
        out.swing_used += res.swing_used
        out.brake_used += res.brake_used
        for k, v in res.rejected.items():
            out.rejected[k] += v
        out.moving += int(res.moving.sum())
        out.behind += int(res.behind.sum())
        out.moving_solved += int((res.moving & (res.status == 0)).sum())
        out.behind_solved += int((res.behind & (res.status == 0)).sum())
        if res.noisy is not None:
            out.noisy += int(res.noisy.sum())
            out.noisy_solved += int((res.noisy & (res.status == 0)).sum())
        take = res.episodes[:remaining]
        out.episodes.extend(take)
        if progress is not None:
            progress(len(take))
    return out


def _worker_main(grid, cell_size, name, cfg_dict, quota, seed, queue, wid) -> None:  # pragma: no cover - subprocess
    try:
        world = GridMap(grid, cell_size, name)
        out = collect_worker(world, ExpertConfig.from_dict(cfg_dict), quota, seed,
                             progress=lambda k: queue.put(("progress", wid, k)))
        queue.put(("done", wid, out))
    except BaseException as e:  # noqa: BLE001 - report anything, so that the parent does not wait forever
        import traceback

        queue.put(("error", wid, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def collect(world: GridMap, episodes: int, seed: int, workers: int = 2, cfg: ExpertConfig = ExpertConfig(),
            progress: bool = True):
    """Collect ``episodes`` kept expert episodes in ``world`` with ``workers`` processes.

    Worker ``w`` gets the ``w``-th child of ``np.random.SeedSequence(seed)`` and an equal share of
    the episodes; the dataset is the workers' episodes in worker order, so the same ``seed`` and
    ``workers`` give the same dataset byte for byte (``ditree.data.collection``). Returns an
    :class:`~ditree.data.dataset.ExpertDataset`.
    """
    import time

    from ditree.data.collection import collection_metadata, run_workers
    from ditree.data.dataset import ExpertDataset

    t0 = time.perf_counter()
    outs = run_workers(world, cfg, episodes, seed, workers, collect_worker, _worker_main, progress, "expert episodes")
    eps = [e for o in outs for e in o.episodes]
    extra = {"swing_used": sum(o.swing_used for o in outs), "brake_used": sum(o.brake_used for o in outs)}
    meta = collection_metadata(Car(), world, outs, cfg, REJECT_REASONS, seed, workers, t0, extra)
    return ExpertDataset.from_episodes(
        [e.states for e in eps], [e.controls for e in eps],
        np.array([e.final_state for e in eps]), np.array([e.goal for e in eps]), world, meta,
        executed=[e.executed for e in eps] if cfg.noisy else None)
