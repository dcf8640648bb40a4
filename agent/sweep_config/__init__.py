"""Pure functions on W&B sweep configs: checking (`validate`), the search space (grid points,
random draws, Optuna mapping), wandb agent's command macros, and hyperband bands."""
from .distributions import DISTRIBUTIONS, GRID_OK, ParamSpec, infer_distribution, values_in_range
from .loader import load_sweep_file, parse_sweep_yaml
from .macros import DEFAULT_COMMAND, MACROS, args_json, expand_command, format_param_file
from .problems import Problem, SweepConfigError
from .rungs import hyperband_rungs
from .samplers import WandbRandomSampler
from .space import (SEP, flatten, from_optuna_params, grid_points, grid_size, optuna_distributions, out_of_range,
                    parameter_specs, sample_random, suggest, to_optuna_params, unflatten, value_key)
from .validate import check_config, fill_defaults, validate

__all__ = [
    "DEFAULT_COMMAND", "DISTRIBUTIONS", "GRID_OK", "MACROS", "SEP", "ParamSpec", "Problem", "SweepConfigError",
    "args_json", "check_config", "expand_command", "fill_defaults", "flatten", "format_param_file",
    "from_optuna_params", "grid_points", "grid_size", "hyperband_rungs", "infer_distribution", "load_sweep_file",
    "optuna_distributions", "out_of_range", "parameter_specs", "parse_sweep_yaml", "sample_random", "suggest",
    "to_optuna_params", "unflatten", "validate", "value_key", "values_in_range", "WandbRandomSampler",
]
