"""Shared fixtures of the ditree tests."""

from __future__ import annotations

import numpy as np
import pytest

from ditree.data.dataset import FORMAT_VERSION as DATASET_FORMAT
from ditree.data.dataset import ExpertDataset
from envs.car import Car, CarParams
from envs.world import random_maze


def make_tiny_car_dataset(episodes: int = 16, T: int = 60, seed: int = 0) -> ExpertDataset:
    """A real ExpertDataset: a goal-seeking steering law driven in a small random maze."""
    rng = np.random.default_rng(seed)
    car, world = Car(), random_maze(9, 9, seed)
    goals = world.sample_free_points(rng, episodes)
    x = np.zeros((episodes, 6))
    x[:, :2] = world.sample_free_points(rng, episodes)
    x[:, 2] = rng.uniform(-np.pi, np.pi, episodes)
    S, U = np.zeros((episodes, T, 6)), np.zeros((episodes, T, 2))
    for t in range(T):
        bearing = np.arctan2(goals[:, 1] - x[:, 1], goals[:, 0] - x[:, 0]) - x[:, 2]
        bearing = (bearing + np.pi) % (2 * np.pi) - np.pi
        u = car.clip_controls(np.stack([3.0 * (1.0 - x[:, 3]), 10.0 * (np.clip(bearing, -0.4, 0.4) - x[:, 5])], 1))
        S[:, t], U[:, t] = x, u
        x = car.step(x, u)
    meta = {"format_version": DATASET_FORMAT, "robot_params": CarParams().to_dict(), "cell_size": 1.0, "map_name": "tiny"}
    return ExpertDataset(
        S.reshape(-1, 6), U.reshape(-1, 2), np.arange(1, episodes + 1) * T, x, goals, world.grid.copy(), meta
    )


@pytest.fixture(scope="session")
def tiny_car_dataset():
    """:func:`make_tiny_car_dataset` (call it with the sizes a test needs)."""
    return make_tiny_car_dataset
