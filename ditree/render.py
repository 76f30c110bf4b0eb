"""A 3-D picture of a plan with PyBullet's TinyRenderer (CPU, headless): walls, start, goal, the
path and the car.

The scene is built for viewing only, in its own ``p.DIRECT`` client (every call passes
``physicsClientId``): each horizontal run of wall cells becomes one box, the path is drawn as a
ribbon of thin boxes, ghost cars mark the footprint (one box per body of the robot) every
``every`` seconds and a solid car (a box per body, or for the first body the ``pybullet_data``
racecar scaled to its length) sits at the path's end.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from envs.box_world import BoxWorld
from envs.problem import Problem
from envs.world import World

WALL_HEIGHT = 0.5  # m
CAR_HEIGHT = 0.12  # m
_WALL_RGBA = (0.45, 0.47, 0.52, 1.0)
_FLOOR_RGBA = (0.93, 0.93, 0.9, 1.0)


def wall_boxes(world: World) -> list[tuple[float, float, float, float]]:
    """Walls as boxes ``(cx, cy, half_x, half_y)`` in metres, one per horizontal run of wall cells
    (a :class:`BoxWorld`: its boxes; its circles are drawn as cylinders)."""
    if isinstance(world, BoxWorld):
        return [(float(cx), float(cy), float(sx / 2), float(sy / 2)) for cx, cy, sx, sy in world.boxes]
    boxes = []
    s = world.cell_size
    H, W = world.shape
    for r in range(H):
        row = world.grid[r]
        c = 0
        while c < W:
            if not row[c]:
                c += 1
                continue
            c0 = c
            while c < W and row[c]:
                c += 1
            x0, y = world.cell_to_xy(r, c0)
            x1, _ = world.cell_to_xy(r, c - 1)
            boxes.append((float((x0 + x1) / 2), float(y), float((c - c0) * s / 2), float(s / 2)))
    return boxes


def _quat_z(p, yaw: float, cid: int):
    return p.getQuaternionFromEuler((0.0, 0.0, float(yaw)), physicsClientId=cid)


def _box(p, cid: int, center, half, rgba, yaw: float = 0.0) -> int:
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half), rgbaColor=list(rgba), physicsClientId=cid)
    return p.createMultiBody(baseMass=0, baseVisualShapeIndex=vis, basePosition=list(center),
                             baseOrientation=_quat_z(p, yaw, cid), physicsClientId=cid)


def _robot_boxes(p, cid: int, robot, state: np.ndarray, rgba, skip_first: bool = False) -> None:
    """One box per body of ``robot`` at ``state`` (the first body left out when ``skip_first``)."""
    poses = np.asarray(robot.footprint_poses(np.asarray(state, dtype=float)[None]))[0]  # (K, 3)
    for k, (b, (x, y, yaw)) in enumerate(zip(robot.bodies, poses)):
        if k == 0 and skip_first:
            continue
        _box(p, cid, (x, y, CAR_HEIGHT / 2), (b.half_length, b.half_width, CAR_HEIGHT / 2), rgba, yaw)


def _load_racecar(p, cid: int, pose, length: float) -> int | None:
    """The pybullet_data racecar scaled to ``length`` metres at ``pose`` (x, y, yaw); None if absent."""
    try:
        import pybullet_data
    except ImportError:  # pragma: no cover - shipped with pybullet
        return None
    urdf = Path(pybullet_data.getDataPath()) / "racecar" / "racecar.urdf"
    if not urdf.is_file():
        return None
    body = p.loadURDF(str(urdf), basePosition=[0, 0, 0], useFixedBase=True, physicsClientId=cid)
    _lo, _hi = p.getAABB(body, -1, physicsClientId=cid)
    extent = max(
        p.getAABB(body, j, physicsClientId=cid)[1][0] for j in range(-1, p.getNumJoints(body, physicsClientId=cid))
    ) - min(p.getAABB(body, j, physicsClientId=cid)[0][0] for j in range(-1, p.getNumJoints(body, physicsClientId=cid)))
    p.removeBody(body, physicsClientId=cid)
    scale = length / max(extent, 1e-6)
    return p.loadURDF(str(urdf), basePosition=[pose[0], pose[1], 0.0], baseOrientation=_quat_z(p, pose[2], cid),
                      globalScaling=scale, useFixedBase=True, physicsClientId=cid)


def render_scene(problem: Problem, result, out_png: str | Path, width: int = 800, height: int = 600,
                 every: float = 0.5, racecar: bool = True, camera_pitch_deg: float = -60.0,
                 camera_yaw_deg: float = 0.0) -> Path:
    """Render ``result`` (a :class:`~planners.results.PlanResult`, or None for the bare problem)
    on ``problem`` with ``p.ER_TINY_RENDERER`` and save a ``width`` x ``height`` PNG.

    ``every``: seconds between ghost footprints; ``racecar``: draw the pybullet_data racecar (scaled
    to the first body's length) at the path's end instead of the first body's box; the camera looks at the map's
    centre from ``camera_pitch_deg`` below the horizontal, from the south when ``camera_yaw_deg`` = 0.
    """
    import pybullet as p
    from PIL import Image

    world = problem.world
    robot = problem.robot
    cid = p.connect(p.DIRECT)
    try:
        x0, x1, y0, y1 = world.extent
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        span = max(x1 - x0, y1 - y0)
        _box(p, cid, (cx, cy, -0.01), ((x1 - x0) / 2, (y1 - y0) / 2, 0.01), _FLOOR_RGBA)
        for bx, by, hx, hy in wall_boxes(world):
            _box(p, cid, (bx, by, WALL_HEIGHT / 2), (hx, hy, WALL_HEIGHT / 2), _WALL_RGBA)
        for ox, oy, r in getattr(world, "circles", ()):
            vis = p.createVisualShape(p.GEOM_CYLINDER, radius=float(r), length=WALL_HEIGHT, rgbaColor=list(_WALL_RGBA),
                                      physicsClientId=cid)
            p.createMultiBody(0, baseVisualShapeIndex=vis, basePosition=[float(ox), float(oy), WALL_HEIGHT / 2],
                              physicsClientId=cid)
        # goal disc and start marker
        goal_vis = p.createVisualShape(p.GEOM_CYLINDER, radius=problem.goal_radius, length=0.02,
                                       rgbaColor=[0.9, 0.15, 0.15, 0.8], physicsClientId=cid)
        p.createMultiBody(0, baseVisualShapeIndex=goal_vis, basePosition=[*problem.goal, 0.01], physicsClientId=cid)
        _robot_boxes(p, cid, robot, problem.start, (0.2, 0.7, 0.2, 1.0))

        states = np.zeros((0, robot.state_dim)) if result is None else np.asarray(result.states)
        color = (0.15, 0.4, 0.85, 1.0) if result is None or result.success else (0.95, 0.55, 0.1, 1.0)
        if len(states) > 1:
            k = max(1, len(states) // 400)  # at most ~400 ribbon pieces
            pts = states[::k, :2]
            if not np.array_equal(pts[-1], states[-1, :2]):
                pts = np.vstack([pts, states[-1, :2]])
            seg = np.diff(pts, axis=0)
            lens = np.linalg.norm(seg, axis=1)
            for (a, d, n) in zip(pts[:-1], seg, lens):
                if n < 1e-6:
                    continue
                mid = a + d / 2
                _box(p, cid, (*mid, 0.012), (n / 2 + 0.01, 0.025, 0.006), color, math.atan2(d[1], d[0]))
            step = max(1, round(every / result.dt))
            ghost = (*color[:3], 0.35)
            for s in states[step:-1:step]:
                _robot_boxes(p, cid, robot, s, ghost)
            end = states[-1]
            first = np.asarray(robot.footprint_poses(end[None]))[0, 0]
            car = _load_racecar(p, cid, first, robot.bodies[0].length) if racecar else None
            _robot_boxes(p, cid, robot, end, color, skip_first=car is not None)

        view = p.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=[cx, cy + 0.06 * span, 0.0], distance=1.2 * span, yaw=camera_yaw_deg, pitch=camera_pitch_deg,
            roll=0, upAxisIndex=2, physicsClientId=cid,
        )
        proj = p.computeProjectionMatrixFOV(fov=50, aspect=width / height, nearVal=0.1, farVal=10 * span,
                                            physicsClientId=cid)
        _, _, rgba, _, _ = p.getCameraImage(
            width, height, viewMatrix=view, projectionMatrix=proj, renderer=p.ER_TINY_RENDERER,
            lightDirection=[0.4, -0.6, 1.0], shadow=0, physicsClientId=cid,
        )
    finally:
        p.disconnect(physicsClientId=cid)
    img = np.reshape(np.asarray(rgba, dtype=np.uint8), (height, width, 4))[..., :3]
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(out)
    return out
