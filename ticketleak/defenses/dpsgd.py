"""DP-SGD through Opacus (Abadi et al., CCS 2016; seed 004's differential-privacy defense).

Each step draws a batch by Poisson sampling (every training sample joins independently with
probability q = 1 / ceil(N / batch_size), as Opacus' ``DPDataLoader`` does and as the
accountant assumes), clips every per-sample gradient to L2 norm ``clip`` (C, flat clipping over
all parameters), sums them, adds Gaussian noise N(0, (noise * C)^2) and divides by the expected
batch size qN:

    g = (sum_i g_i * min(1, C / ||g_i||) + N(0, sigma^2 C^2 I)) / (q N)

then the recipe's optimizer (SGD or Adam, its schedule and weight decay) takes the step.
Epsilon at ``delta`` comes from Opacus' RDP accountant (``accountant="prv"`` for the PRV one).

Pruning masks. Opacus' ``GradSampleModule`` refuses layers that hold buffers, and
``torch.nn.utils.prune`` holds a mask as a ``weight_mask`` buffer with a forward pre-hook that
computes ``weight = weight_orig * weight_mask``. So :func:`fit_private` folds held masks into
plain weights before wrapping the model (pruned entries become stored zeros) and holds them
itself: after every backward pass it zeroes the pruned entries of every per-sample gradient
(before clipping, so pruned weights use no clipping budget: exactly the per-sample gradients
of the masked model), zeroes the pruned entries of the noised gradient before the optimizer
update (so momentum and Adam moments of pruned entries stay zero) and re-zeroes the pruned
weights after it. At the end the masks are put back with ``prune.custom_from_mask``, so the
caller gets the model in the state it passed it (``weight_orig``/``weight_mask`` held) and can
``make_permanent`` it as usual. Masks on BatchNorm layers (network slimming) are not supported.

BatchNorm mixes samples within a batch, which per-sample clipping cannot bound. Models with
BatchNorm are changed *in place*: every BatchNorm is replaced by the GroupNorm that
``opacus.validators.ModuleValidator.fix`` chooses (:func:`make_private_compatible`). Their
state dicts then lose the BatchNorm running statistics, so to load one, build the architecture
and call ``make_private_compatible`` on it first. The small mlp / cnn / lenet5 models have no
BatchNorm and keep their state-dict keys.

Randomness is deterministic given ``gen`` (batch sampling and augmentation draw from it; the
noise from a generator seeded from ``gen.initial_seed()``), which is right for experiments but
not Opacus' ``secure_mode``. Opacus is imported lazily, so the rest of the package loads without it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from ticketleak.core.schema import Section, at_least, within
from ticketleak.tensors import Tensors
from ticketleak.training import (
    EpochCallback,
    EpochTracker,
    Logger,
    Recipe,
    augment,
    make_optimizer,
    make_scheduler,
)

WHEN = "train"
HeldMask = tuple[nn.Module, str, torch.Tensor]  # (module, "weight" | "bias", float 0/1 mask)


@dataclass(frozen=True)
class Settings(Section):
    clip: float  # per-sample clipping norm C
    noise: float  # noise multiplier sigma
    delta: float  # delta at which epsilon is reported

    def check(self) -> None:
        at_least(self, "clip", 0, strict=True)
        at_least(self, "noise", 0, strict=True)
        within(self, "delta", 0, 1, "()")


def fold_masks(model: nn.Module) -> list[HeldMask]:
    """Remove every ``torch.nn.utils.prune`` parametrisation, keeping the masked values as plain
    parameters (same Parameter objects), and return what was held so it can be restored."""
    held = []
    for module in model.modules():
        for name in ("weight", "bias"):
            if hasattr(module, f"{name}_mask"):
                mask = getattr(module, f"{name}_mask").detach().clone()
                prune.remove(module, name)
                held.append((module, name, mask))
    return held


def restore_masks(held: list[HeldMask]) -> None:
    """Hold the masks from :func:`fold_masks` again (``weight_orig`` = current weights)."""
    for module, name, mask in held:
        prune.custom_from_mask(module, name, mask.to(getattr(module, name).device))


def make_private_compatible(model: nn.Module) -> list[str]:
    """Replace, in place, every submodule that Opacus cannot train privately (BatchNorm) by the
    replacement ``ModuleValidator.fix`` picks (GroupNorm); return the names replaced. Raises
    if the model still fails ``ModuleValidator.validate`` afterwards."""
    from opacus.validators import ModuleValidator

    if not ModuleValidator.validate(model, strict=False):
        return []
    fixed = dict(ModuleValidator.fix(model).named_modules())
    replaced = []
    for name, module in list(model.named_modules()):
        if name and name in fixed and type(fixed[name]) is not type(module):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            parent._modules[child] = fixed[name]
            replaced.append(name)
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise ValueError(f"DP-SGD: model not supported by Opacus after fixing: {errors}")
    return replaced


def fit_private(
    model: nn.Module,
    train: Tensors,
    test: Tensors,
    recipe: Recipe,
    gen: torch.Generator,
    device: torch.device,
    *,
    clip: float,
    noise: float,
    delta: float,
    logger: Logger | None = None,
    label: str = "dpsgd",
    val: Tensors | None = None,
    patience: int | None = None,
    on_epoch_end: EpochCallback | None = None,
    accountant: str = "rdp",
) -> dict[str, float]:
    """Train ``model`` in place with DP-SGD (see the module docstring); return the last-epoch
    metrics of :func:`ticketleak.training.fit` plus ``epsilon`` (at ``delta``, over all epochs
    run, also logged per epoch as ``privacy/epsilon``; ``inf`` when ``noise`` is 0), ``delta``, ``noise_multiplier``,
    ``max_grad_norm``, ``sample_rate`` and ``dp_steps``.

    The recipe's optimizer, schedule, weight decay and augmentation apply; the loss is plain
    cross-entropy (DP-SGD is one defense kind, composed with no other). With ``val`` + ``patience``, early stopping restores the best
    validation epoch; epsilon still counts every epoch run. ``on_epoch_end`` sees the model
    with its masks folded (plain ``weight`` keys). Afterwards ``model`` is a plain ``nn.Module``
    again (no Opacus wrapper, hooks or ``grad_sample`` attributes), masks held as before.
    """
    from opacus import PrivacyEngine

    if not (clip > 0 and noise >= 0 and 0 < delta < 1):
        raise ValueError(f"DP-SGD: need clip > 0, noise >= 0 and 0 < delta < 1; got {clip}, {noise}, {delta}")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) and hasattr(m, "weight_mask") for m in model.modules()):
        raise NotImplementedError("DP-SGD: masks on BatchNorm layers (network slimming) are not supported")
    x, y = train
    model.to(device)
    held = fold_masks(model)
    dp_model = hook = None
    try:
        replaced = make_private_compatible(model)
        if replaced:
            warnings.warn(f"DP-SGD: replaced BatchNorm by GroupNorm in place: {', '.join(replaced)}", stacklevel=2)
        keep = {id(getattr(m, n)): k for m, n, k in held}
        params = [p for p in model.parameters() if p.requires_grad]
        masked = [(p, keep[id(p)]) for p in params if id(p) in keep]
        opt = make_optimizer(model, recipe)
        sched = make_scheduler(opt, recipe)

        def after_noise(optimizer: torch.optim.Optimizer, *_: object) -> None:
            # Runs inside DPOptimizer.step, after clipping + noise, before the update.
            with torch.no_grad():
                for p, k in masked:
                    if p.grad is not None:
                        p.grad.mul_(k)

        hook = opt.register_step_pre_hook(after_noise)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, y), batch_size=recipe.batch_size, shuffle=True, generator=gen
        )
        noise_gen = torch.Generator(device=device).manual_seed((gen.initial_seed() * 7_919 + 0xD9) % 2**63)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")  # seeded on purpose
            engine = PrivacyEngine(accountant=accountant)
            dp_model, dp_opt, dp_loader = engine.make_private(
                module=model, optimizer=opt, data_loader=loader, noise_multiplier=noise, max_grad_norm=clip,
                poisson_sampling=True, noise_generator=noise_gen,
            )
        sample_rate = 1 / len(loader)
        tracker = EpochTracker(model, train, test, recipe.epochs, logger, label, val, patience)
        steps, epsilon = 0, math.inf
        for epoch in range(1, recipe.epochs + 1):
            dp_model.train()
            for xb, yb in dp_loader:
                if recipe.augment and len(xb):
                    xb = augment(xb, gen)
                xb, yb = xb.to(device), yb.to(device)
                dp_opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(dp_model(xb), yb)
                with warnings.catch_warnings():  # the first layer's inputs need no gradient: expected
                    warnings.filterwarnings("ignore", message="Full backward hook is firing")
                    loss.backward()
                with torch.no_grad():
                    for p, k in masked:
                        if getattr(p, "grad_sample", None) is not None:
                            p.grad_sample.mul_(k)  # (B, *shape) * shape
                dp_opt.step()
                with torch.no_grad():
                    for p, k in masked:
                        p.mul_(k)
                steps += 1
            if sched is not None:
                sched.step()
            epsilon = engine.get_epsilon(delta) if noise > 0 else math.inf
            if on_epoch_end is not None:
                on_epoch_end(epoch, model)
            if tracker.end_epoch(epoch, {"privacy/epsilon": epsilon} if math.isfinite(epsilon) else None):
                break
        last = tracker.finish()
    finally:
        if hook is not None:
            hook.remove()
        if dp_model is not None:
            dp_model.to_standard_module()  # removes Opacus' hooks and per-sample attributes
        for p in model.parameters():
            for attr in ("summed_grad", "grad_sample"):
                if hasattr(p, attr):
                    delattr(p, attr)
        restore_masks(held)
    return {
        **last, "epsilon": epsilon, "delta": delta, "noise_multiplier": noise, "max_grad_norm": clip,
        "sample_rate": sample_rate, "dp_steps": steps,
    }


def fit(model: nn.Module, data, recipe: Recipe, s: Settings, gen: torch.Generator, device: torch.device, **kw) -> dict[str, float]:  # noqa: ANN001
    """The defense's training loop (:func:`ticketleak.defenses.fit_defended` calls it)."""
    return fit_private(model, data.train, data.test, recipe, gen, device, clip=s.clip, noise=s.noise, delta=s.delta, **kw)
