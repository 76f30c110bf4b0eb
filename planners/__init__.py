"""Generic kinodynamic search: trees, control samplers, baselines, results and validation.

``planners`` imports ``envs`` only and knows nothing of learning.
"""
