"""Pure functions on W&B sweep configs: checking (`validate`), the search space (grid points,
random draws), the metric's rules, wandb agent's command macros, and hyperband bands.

Imports nothing else of sweepkit (an import contract keeps it so).
"""

from .distributions import DISTRIBUTIONS, GRID_OK, Draws, ParamSpec, infer_distribution, value_key
from .extend import Extension, extension
from .hyperband import Verdict, hyperband_rungs, judge
from .loader import load_sweep_file, parse_sweep_yaml
from .macros import DEFAULT_COMMAND, MACROS, args_json, expand_command, format_param_file, module_args
from .problems import Problem, SweepConfigError
from .space import (
    SEP,
    dotted,
    flatten,
    grid_points,
    grid_size,
    misfit,
    out_of_range,
    parameter_specs,
    point_key,
    sample_random,
    swept_values,
    unflatten,
)
from .validate import ParamCheck, check_config, fill_defaults, validate

__all__ = [
    "DEFAULT_COMMAND",
    "DISTRIBUTIONS",
    "GRID_OK",
    "MACROS",
    "SEP",
    "Draws",
    "Extension",
    "ParamCheck",
    "ParamSpec",
    "Problem",
    "Verdict",
    "SweepConfigError",
    "args_json",
    "check_config",
    "dotted",
    "expand_command",
    "extension",
    "fill_defaults",
    "flatten",
    "format_param_file",
    "grid_points",
    "grid_size",
    "hyperband_rungs",
    "infer_distribution",
    "judge",
    "load_sweep_file",
    "misfit",
    "module_args",
    "out_of_range",
    "parameter_specs",
    "parse_sweep_yaml",
    "point_key",
    "sample_random",
    "swept_values",
    "unflatten",
    "validate",
    "value_key",
]
