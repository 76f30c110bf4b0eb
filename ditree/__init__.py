"""DiTree: kinodynamic motion planning with a flow-matching policy as the RRT's action sampler."""

__version__ = "0.1.0"
