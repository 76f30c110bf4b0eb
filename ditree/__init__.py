"""DiTree: kinodynamic motion planning with a flow-matching policy as the RRT's action sampler."""

__version__ = "0.1.0"

from ditree.api import plan
from ditree.registry import available_planners, make_planner, register_planner

__all__ = ["__version__", "available_planners", "make_planner", "plan", "register_planner"]
