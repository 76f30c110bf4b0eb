"""Robot footprints: the one place the car's shape is defined (collision checking and drawing).

A robot's footprint is ``K`` rigid rectangles, its *bodies* (``robot.bodies``, a tuple of
:class:`Footprint`), each posed by the robot's state (``robot.footprint_poses(states)`` ->
``(..., K, 3)``, the centre and heading of every body). The car and the racecar have one body
(``K = 1``) centred at the robot's pose; a car with a trailer has two.

The DiTree reference code approximates the car by two discs of radius 0.1 m at +-0.075 m along
the heading. That shape both misses the rectangle's corners and bulges past its sides; we use the
honest 0.35 m x 0.2 m rectangle (docs/car.md, 'Footprint').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Footprint:
    """A rectangle centred on the robot's reference point, long side along the heading.

    ``length`` and ``width`` in metres.
    """

    length: float
    width: float

    def __post_init__(self) -> None:
        if not (self.length > 0 and self.width > 0):
            raise ValueError(f"footprint sides must be positive, got {self.length} x {self.width}")

    @property
    def half_length(self) -> float:
        return 0.5 * self.length

    @property
    def half_width(self) -> float:
        return 0.5 * self.width

    @property
    def circumradius(self) -> float:
        """Distance (m) from the centre to a corner."""
        return float(np.hypot(self.half_length, self.half_width))

    def inflated(self, margin: float) -> Footprint:
        """The same rectangle grown by ``margin`` metres on every side."""
        return Footprint(self.length + 2 * margin, self.width + 2 * margin)

    def corners(self, poses: np.ndarray) -> np.ndarray:
        """Corners of the footprint at poses ``(N, 3)`` = (x, y, yaw) -> ``(N, 4, 2)``, CCW from front-left."""
        poses = np.asarray(poses, dtype=float).reshape(-1, 3)
        local = np.array(
            [
                [self.half_length, self.half_width],
                [-self.half_length, self.half_width],
                [-self.half_length, -self.half_width],
                [self.half_length, -self.half_width],
            ]
        )
        c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
        rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (N, 2, 2)
        return poses[:, None, :2] + np.einsum("nij,kj->nki", rot, local)


Bodies = tuple[Footprint, ...]
"""The rectangles of a multi-body footprint, in the order of ``robot.footprint_poses``' axis ``K``."""


def as_bodies(bodies: Footprint | Sequence[Footprint]) -> Bodies:
    """One :class:`Footprint` or a sequence of them -> a non-empty tuple of bodies.

    Raises ``TypeError`` for anything else and ``ValueError`` for an empty sequence.
    """
    if isinstance(bodies, Footprint):
        return (bodies,)
    out = tuple(bodies)
    if not out:
        raise ValueError("a footprint needs at least one body")
    bad = [b for b in out if not isinstance(b, Footprint)]
    if bad:
        raise TypeError(f"bodies must be Footprint rectangles, got {type(bad[0]).__name__}")
    return out


CAR_FOOTPRINT = Footprint(length=0.35, width=0.2)
"""The DiTree car's footprint (docs/car.md, 'Footprint')."""
