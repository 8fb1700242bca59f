"""One model's run: its data, its recipe, and how it is saved and loaded.

A run directory holds ``model.pt`` (a plain state dict, loaded with ``weights_only=True``) and
``info.json`` (architecture, role, defense, level, accuracies, sparsity), so later stages can
rebuild the network without reading the ``model`` params.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ticketleak.core import layout, store
from ticketleak.core.layout import Role
from ticketleak.models import build_model, count_parameters
from ticketleak.core.params import Params
from ticketleak.splits import load_split, reference_half
from ticketleak.tensors import Tensors
from ticketleak.training import to_tensor


def load_role_data(role: Role, prepared: Path = layout.PREPARED, reference_seed: int | None = None) -> tuple[dict, Tensors, Tensors, Tensors]:
    """Metadata and the role's members, non-members and validation split as normalised tensors.

    A reference model (``ref-<id>``, needs ``reference_seed``) trains on its half of the target's
    candidates (members, then non-members: the order of the posteriors), holds out the other half
    and validates on the target's validation split, which no reference model trains on."""
    meta = store.read_json(prepared / "meta.json")
    split = load_split(prepared / role.split.name)

    def tensors(x: np.ndarray, y: np.ndarray) -> Tensors:
        return to_tensor(x, meta["mean"], meta["std"]), torch.from_numpy(y).long()

    def part(name: str) -> Tensors:
        return tensors(split[f"{name}_x"], split[f"{name}_y"])

    if not role.is_reference:
        return meta, part("members"), part("nonmembers"), part("val")
    if reference_seed is None:
        raise ValueError(f"{role}: a reference model's data needs the reference seed")
    x, y = candidates(split)
    inside = reference_membership(role, len(y), reference_seed)
    return meta, tensors(x[inside], y[inside]), tensors(x[~inside], y[~inside]), part("val")


def load_stage_data(role: Role, p: Params) -> tuple[dict, Tensors, Tensors, Tensors]:
    """:func:`load_role_data` inside a stage: a reference model's halves come from
    ``attack.reference.seed``, which only the reference stages declare."""
    return load_role_data(role, reference_seed=p.attack.reference.seed if role.is_reference else None)


def candidates(split: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The target's candidate set for reference attacks: its members, then its non-members."""
    return (np.concatenate([split["members_x"], split["nonmembers_x"]]),
            np.concatenate([split["members_y"], split["nonmembers_y"]]))


def reference_membership(role: Role, n_candidates: int, seed: int) -> np.ndarray:
    """Which candidates reference model ``role`` trains on."""
    return reference_half(role.index, n_candidates, seed)


def live_logger(run_dir: Path):
    """A dvclive writer for per-epoch metrics that leaves dvc.yaml and experiments alone.

    Under `dvc exp run`, dvclive would `git add` its files; ours are written to a staging
    directory renamed on success (store.staged_dir) and belong to a DVC output, so that is
    switched off by hiding the experiment's baseline from dvclive.
    """
    import os

    from dvclive import Live

    os.environ.pop("DVC_EXP_BASELINE_REV", None)
    return Live(str(run_dir / "live"), dvcyaml=None, save_dvc_exp=False, report=None)


def save_run(run_dir: Path, model: torch.nn.Module, info: dict, **extra_states: dict) -> None:
    """Write model.pt, any extra state dicts (init.pt, mask.pt) and info.json."""
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_dir / "model.pt")
    for name, state in extra_states.items():
        torch.save(state, run_dir / f"{name}.pt")
    store.write_json(run_dir / "info.json", {**info, "parameters": count_parameters(model)})


def build_from_info(info: dict) -> torch.nn.Module:
    return build_model(info["arch"], info["channels"], info["num_classes"], info["image_size"], info["dropout"])


def load_run(run_dir: Path, state: str = "model") -> tuple[torch.nn.Module, dict]:
    """Rebuild the network described by info.json and load ``<state>.pt`` into it."""
    info = store.read_json(run_dir / "info.json")
    model = build_from_info(info)
    path = run_dir / f"{state}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the stage that makes it (dvc repro)")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model, info


def load_teacher(run_dir: Path) -> torch.Tensor:
    """The distillation teacher's logits on the training set, saved by the dense run."""
    path = run_dir / "teacher.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; the dense distillation run writes it (dvc repro)")
    return torch.load(path, map_location="cpu", weights_only=True)["logits"]
