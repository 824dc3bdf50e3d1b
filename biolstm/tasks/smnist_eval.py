"""Compatibility path (README and notebooks): the sMNIST evaluation pipeline lives in
:mod:`biolstm.workflows.smnist_eval`; new code imports it from there. Nothing in the
package imports this module."""

from biolstm.workflows.smnist_eval import *  # noqa: F401,F403  (compatibility re-export)
from biolstm.workflows.smnist_eval import __all__  # noqa: F401
