"""Penetration depths of oriented rectangles into axis-aligned boxes and circles: the geometry of the
dynobench checker (``envs.dynobench_check``), kept apart from the planners' collision checkers so
that it checks them independently.

The penetration depth of two convex shapes is the shortest translation that separates them; for
polygons it is the smallest overlap of their projections on the edge normals (separating axes),
and 0 when some axis separates them. dynobench's fcl extrudes every 2D shape to the same height,
so the planar depth is its (negated) signed distance in a collision.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bodies_penetration", "rect_box_penetration", "rect_circle_penetration"]


def rect_box_penetration(poses: np.ndarray, half: tuple[float, float], boxes: np.ndarray) -> np.ndarray:
    """Depth (m, >= 0) of rectangles at ``poses`` ``(..., 3)`` = (x, y, yaw) with half-sides ``half`` =
    (half length along yaw, half width) into axis-aligned boxes ``(N, 4)`` = [cx, cy, sx, sy] (full
    sides) -> ``(..., N)``; 0 where they do not overlap (touching counts as 0)."""
    poses = np.asarray(poses, dtype=float)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    hl, hw = half
    c, s = np.cos(poses[..., 2])[..., None], np.sin(poses[..., 2])[..., None]
    ac, as_ = np.abs(c), np.abs(s)
    dx = boxes[:, 0] - poses[..., 0, None]
    dy = boxes[:, 1] - poses[..., 1, None]
    ex, ey = 0.5 * boxes[:, 2], 0.5 * boxes[:, 3]
    overlaps = np.stack([
        hl * ac + hw * as_ + ex - np.abs(dx),  # world x axis
        hl * as_ + hw * ac + ey - np.abs(dy),  # world y axis
        hl + ex * ac + ey * as_ - np.abs(dx * c + dy * s),  # the rectangle's long axis
        hw + ex * as_ + ey * ac - np.abs(-dx * s + dy * c),  # its short axis
    ])
    return np.maximum(overlaps.min(axis=0), 0.0)


def rect_circle_penetration(poses: np.ndarray, half: tuple[float, float], circles: np.ndarray) -> np.ndarray:
    """Depth (m, >= 0) of rectangles at ``poses`` ``(..., 3)`` with half-sides ``half`` into circles
    ``(M, 3)`` = [cx, cy, r] -> ``(..., M)``: the radius minus the signed distance from the circle's
    centre to the rectangle (negative inside), clipped at 0."""
    poses = np.asarray(poses, dtype=float)
    circles = np.asarray(circles, dtype=float).reshape(-1, 3)
    c, s = np.cos(poses[..., 2])[..., None], np.sin(poses[..., 2])[..., None]
    dx = circles[:, 0] - poses[..., 0, None]
    dy = circles[:, 1] - poses[..., 1, None]
    qx = np.abs(dx * c + dy * s) - half[0]  # the centre in the rectangle's frame, folded into one quadrant
    qy = np.abs(-dx * s + dy * c) - half[1]
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    inside = np.minimum(np.maximum(qx, qy), 0.0)
    return np.maximum(circles[:, 2] - (outside + inside), 0.0)


def bodies_penetration(bodies, poses: np.ndarray, boxes: np.ndarray, circles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The deepest penetration of any of the ``K`` rectangles ``bodies`` (``envs.footprint.Footprint``)
    at ``poses`` ``(..., K, 3)`` into any obstacle -> ``(depth (...), obstacle (...))``: the depth (m)
    and the index of that obstacle (boxes first, then circles; -1 where nothing penetrates)."""
    poses = np.asarray(poses, dtype=float)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    circles = np.asarray(circles, dtype=float).reshape(-1, 3)
    per_body = []
    for k, body in enumerate(bodies):
        half = (body.half_length, body.half_width)
        per_body.append(np.concatenate([rect_box_penetration(poses[..., k, :], half, boxes),
                                        rect_circle_penetration(poses[..., k, :], half, circles)], axis=-1))
    depth = np.max(np.stack(per_body), axis=0)  # (..., N + M)
    if depth.shape[-1] == 0:
        return np.zeros(depth.shape[:-1]), np.full(depth.shape[:-1], -1)
    worst = depth.argmax(axis=-1)
    d = np.take_along_axis(depth, worst[..., None], axis=-1)[..., 0]
    return d, np.where(d > 0, worst, -1)
