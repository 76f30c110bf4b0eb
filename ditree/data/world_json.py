"""Worlds as JSON objects: how an expert dataset (``ditree.data.dataset``, ``worlds_json``) stores
the worlds its episodes were collected in.

Two kinds:

- an occupancy grid (:class:`~envs.world.GridMap`): ``{"type": "grid", "name", "cell_size",
  "grid": {"shape": [H, W], "packbits": BASE64}}``, the grid's cells row-major packed 8 to a byte
  (``numpy.packbits``, big-endian bit order) and base64-encoded;
- a continuous box world (:class:`~envs.box_world.BoxWorld`): ``{"type": "box",
  **BoxWorld.to_dict()}``.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np

from envs.box_world import BoxWorld
from envs.errors import MapFormatError
from envs.world import GridMap, World


def world_to_json(world: World) -> dict:
    """The JSON object of a :class:`GridMap` or :class:`BoxWorld` (module docstring); a
    ``TypeError`` for any other kind of world."""
    if isinstance(world, BoxWorld):
        return {"type": "box", **world.to_dict()}
    if isinstance(world, GridMap):
        g = np.asarray(world.grid, dtype=np.uint8)
        return {"type": "grid", "name": world.name, "cell_size": float(world.cell_size),
                "grid": {"shape": list(g.shape), "packbits": base64.b64encode(np.packbits(g.ravel())).decode("ascii")}}
    raise TypeError(f"cannot store a world of type {type(world).__name__} (a GridMap or a BoxWorld)")


def world_from_json(d: object) -> World:
    """The world of :func:`world_to_json`'s object; :class:`~envs.errors.MapFormatError` naming
    the missing or bad field."""
    if not isinstance(d, dict):
        raise MapFormatError(f"a world must be a JSON object, got {type(d).__name__}")
    kind = d.get("type")
    if kind == "box":
        return BoxWorld.from_dict(d)
    if kind != "grid":
        raise MapFormatError(f"world type is {kind!r}; expected 'grid' or 'box'")
    for key in ("name", "cell_size", "grid"):
        if key not in d:
            raise MapFormatError(f"grid world field {key!r} is missing")
    enc = d["grid"]
    if not isinstance(enc, dict) or "shape" not in enc or "packbits" not in enc:
        raise MapFormatError("grid world field 'grid' must be {'shape': [H, W], 'packbits': base64}")
    shape = enc["shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and v > 0 for v in shape)):
        raise MapFormatError(f"grid world field 'grid.shape' must be [H, W] positive integers, got {shape!r}")
    try:
        bits = np.frombuffer(base64.b64decode(str(enc["packbits"]), validate=True), dtype=np.uint8)
    except (binascii.Error, ValueError) as e:
        raise MapFormatError(f"grid world field 'grid.packbits' is not base64 ({e})") from None
    n = shape[0] * shape[1]
    if len(bits) != (n + 7) // 8:
        raise MapFormatError(f"grid world field 'grid.packbits' holds {len(bits)} bytes, expected {(n + 7) // 8} "
                             f"for a {shape[0]} x {shape[1]} grid")
    cell = d["cell_size"]
    if isinstance(cell, bool) or not isinstance(cell, (int, float)):
        raise MapFormatError(f"grid world field 'cell_size' must be a number, got {cell!r}")
    grid = np.unpackbits(bits, count=n).reshape(shape)
    return GridMap(grid, float(cell), str(d["name"]))


def worlds_to_strings(worlds) -> np.ndarray:
    """The ``worlds_json`` array of a dataset file: one compact JSON string per world, ``(W,)`` unicode."""
    return np.array([json.dumps(world_to_json(w), sort_keys=True, separators=(",", ":")) for w in worlds])
