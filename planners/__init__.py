"""Generic kinodynamic search: trees, control samplers, baselines, results and validation.

``planners`` imports ``envs`` only and knows nothing of learning.
"""

from planners.base import Planner, Profiler
from planners.nearest import BruteNearest, GridNearest, LogKDTree
from planners.results import PlanResult
from planners.rrt import ExtensionBatch, KinodynamicRRT, RRTParams, extend
from planners.samplers import ControlSampler, SamplerContext, UniformControlSampler, UniformSamplerParams
from planners.sst import SST, SSTParams
from planners.tree import Tree
from planners.validate import finalize, validate

__all__ = [
    "SST",
    "BruteNearest",
    "ControlSampler",
    "ExtensionBatch",
    "GridNearest",
    "KinodynamicRRT",
    "LogKDTree",
    "PlanResult",
    "Planner",
    "Profiler",
    "RRTParams",
    "SSTParams",
    "SamplerContext",
    "Tree",
    "UniformControlSampler",
    "UniformSamplerParams",
    "extend",
    "finalize",
    "validate",
]
