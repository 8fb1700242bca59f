"""Pruning methods: each one short strategy from a trained dense model to a pruned, trained model.

| method          | mask from                                | then                                  |
|-----------------|------------------------------------------|---------------------------------------|
| lth_oneshot     | magnitude of the trained weights         | rewind survivors, retrain (seed 000)  |
| lth_imp         | magnitude, 20% of the rest per round     | rewind and retrain every round        |
| random_reinit   | the lth_oneshot mask                     | fresh random init, retrain (control)  |
| random_prune    | random, same count per layer             | rewind, retrain (control)             |
| finetune_l1     | magnitude (L1 unstructured)              | fine-tune, early stopping (seed 002)  |
| filter_l1 / _l2 | whole Conv filters by L1 / L2 norm       | fine-tune, early stopping (seed 002)  |
| slimming        | channels by |BatchNorm scale|            | fine-tune, early stopping (seed 002)  |
| snip / grasp    | saliency at initialisation, one batch    | train from init                       |

A method is one module of this package (the registry :data:`ticketleak.core.registry.PRUNING_METHODS`
finds it): ``prune(job, sparsity) -> (model, masks, record)``, its ``Settings`` (the
``prune.<method>`` section of ``params.yaml``) and, for a method that needs BatchNorm layers,
``NEEDS_BATCHNORM = True``. Adding a method is adding one file. Shared pieces: the mask toolbox
:mod:`ticketleak.masks` and ``_common.py`` (the :class:`Job`, rewinding, retraining).

"Rewind" restores the weights at ``prune.rewind_epoch`` (0: the initial weights, Algorithm 1;
k > 0: late rewinding). Training goes through ``job.fit``, which the stage builds around the
run's defense, so this package does not know how models are trained.
"""

from __future__ import annotations

from torch import nn

from ticketleak import masks as M
from ticketleak.pruning._common import Fit, Job, rewound
from ticketleak.pruning.lth_imp import imp_rounds
from ticketleak.core.registry import PRUNING_METHODS

__all__ = ["Fit", "Job", "imp_rounds", "rewound", "run"]


def run(method: str, job: Job, sparsity: float) -> tuple[nn.Module, dict]:
    """Prune with ``method`` at ``sparsity``; return the trained pruned model and its record."""
    if method not in PRUNING_METHODS.names():
        raise ValueError(f"prune.methods: unknown method '{method}' (choose from {', '.join(PRUNING_METHODS.names())})")
    model, masks, record = PRUNING_METHODS.get(method).prune(job, sparsity)
    measured = M.measure_sparsity(model)
    return model, {
        **record,
        "method": method,
        "sparsity_asked": sparsity,
        "sparsity": measured["global"],
        "sparsity_detail": measured,
        "masks": masks,
    }
