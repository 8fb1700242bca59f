"""Frankle & Carbin's iterative magnitude pruning with rewinding; rounds are cached and reused."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ticketleak import masks as M
from ticketleak.pruning._common import Job, Result, positive_or_null, retrain, rewound
from ticketleak.core.schema import ParamsError, Section, declared
from ticketleak.core.store import staged_dir


@dataclass(frozen=True)
class Settings(Section):
    rate: float  # fraction of the remaining weights removed per round
    retrain_epochs: int | None

    def check(self) -> None:
        if declared(self, "rate") and not 0 < self.rate < 1:
            raise ParamsError(f"{self._section}.rate: must be in (0, 1), got {self.rate}")
        positive_or_null(self, "retrain_epochs")


def imp_rounds(sparsity: float, rate: float) -> int:
    """The first round k whose sparsity 1 - (1 - rate)^k reaches ``sparsity``."""
    if sparsity <= 0:
        return 0
    return math.ceil(math.log(1 - sparsity) / math.log(1 - rate) - 1e-9)


def prune(job: Job, sparsity: float) -> Result:
    """Per round, prune ``rate`` of the remaining weights by global magnitude, rewind, retrain.
    Round k is built from round k-1's saved result (``job.cache``), so asking for a higher
    sparsity only adds rounds; the request is served by the first round that reaches it."""
    rate = job.settings.rate  # type: ignore[attr-defined]
    target = imp_rounds(sparsity, rate)
    cache = job.cache / _fingerprint(job) if job.cache else None
    trained, masks, last, start = job.dense, None, {}, 1
    if cache is not None:
        done = [k for k in range(target, 0, -1) if (cache / f"round-{k}" / "done").is_file()]
        if done:
            start = done[0] + 1
            trained, masks, last = _load_round(job, cache / f"round-{done[0]}")
            print(f"[{job.label}] reusing IMP round {done[0]} from {cache}", file=sys.stderr)
    for k in range(start, target + 1):
        masks = M.magnitude_masks(trained, 1 - (1 - rate) ** k, "global", previous=masks, output_layer=job.output_layer)
        model = rewound(job)
        last = retrain(job, model, masks, job.settings.retrain_epochs)  # type: ignore[attr-defined]
        trained = model
        if cache is not None:
            _save_round(cache / f"round-{k}", model, masks, last)
    return trained, masks, {**last, "imp_round": target, "imp_rate": rate}  # type: ignore[return-value]


def _fingerprint(job: Job) -> str:
    h = hashlib.sha256()
    for state in (job.dense.state_dict(), job.rewind_state):
        for k, v in sorted(state.items()):
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
    h.update(job.train[0].numpy().tobytes())
    h.update(json.dumps([job.tag, repr(job.settings), job.scope, job.seed, job.output_layer]).encode())
    return h.hexdigest()[:16]


def _save_round(path: Path, model: nn.Module, masks: M.Masks, last: dict) -> None:
    with staged_dir(path) as tmp:
        torch.save(model.state_dict(), tmp / "model.pt")
        torch.save(masks, tmp / "mask.pt")
        (tmp / "last.json").write_text(json.dumps(last))
        (tmp / "done").write_text("")


def _load_round(job: Job, path: Path) -> Result:
    model = copy.deepcopy(job.dense)
    model.load_state_dict(torch.load(path / "model.pt", weights_only=True))
    return model, torch.load(path / "mask.pt", weights_only=True), json.loads((path / "last.json").read_text())
