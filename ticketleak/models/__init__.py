"""Image-classifier architectures, built by name through :func:`build_model`.

Each architecture is one module of this package (``resnet18.py`` is ``resnet18``) with
``build(in_channels, num_classes, image_size, dropout)``, ``BATCHNORM`` (whether it has
BatchNorm layers, which network slimming prunes) and, where it also takes tabular records
(D features as inputs of shape (N, D, 1, 1)), ``TABULAR = True``; the names come from
:data:`ticketleak.core.registry.ARCHITECTURES`, so adding one is adding one file. Shared blocks are in
``_blocks.py``.

Every model maps float inputs of shape (N, in_channels, image_size, image_size) to
logits of shape (N, num_classes). Its prunable layers are its ``nn.Conv2d`` and
``nn.Linear`` modules (see :func:`prunable_layers`); no parametrizations are attached.
A dropout rate of 0 puts an ``nn.Identity`` where the ``nn.Dropout`` would go, so
layer names do not depend on the rate. torchvision is imported only by the builders
that need it, so the small models load quickly.

``arch`` may also be a user's own network, ``package.module:function``: the function gets
``input_shape=(C, H, W)`` and ``num_classes`` (and ``dropout``, if it takes that argument) and
returns an ``nn.Module``. Pruning acts on its Conv2d and Linear layers like on ours. On tabular
data its ``input_shape`` is ``(D, 1, 1)``: the model gets (N, D, 1, 1) and flattens it.
"""

from __future__ import annotations

import inspect

from torch import nn

from ticketleak.core.registry import ARCHITECTURES, load_factory
from ticketleak.core.schema import ParamsError


def build_model(
    arch: str, in_channels: int, num_classes: int, image_size: int, dropout: float = 0.0
) -> nn.Module:
    """Build architecture ``arch`` for (N, in_channels, image_size, image_size) inputs."""
    if arch not in ARCHITECTURES.names() and ":" not in arch:
        raise ValueError(f"unknown arch {arch!r}; valid choices: {', '.join(ARCHITECTURES.names())}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if image_size < 4 and not (":" in arch or takes_records(arch)):
        raise ValueError(f"image_size: arch {arch!r} takes images of at least 4x4, got {image_size}x{image_size}")
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if ":" in arch:
        return _custom(arch, (in_channels, image_size, image_size), num_classes, float(dropout))
    return ARCHITECTURES.get(arch).build(in_channels, num_classes, image_size, float(dropout))


def _custom(spec: str, input_shape: tuple[int, int, int], num_classes: int, dropout: float) -> nn.Module:
    """A user's network from its factory ``package.module:function``; one-line errors."""
    factory = load_factory(spec, "model.arch")
    kwargs: dict = {"input_shape": input_shape, "num_classes": num_classes}
    if "dropout" in inspect.signature(factory).parameters:
        kwargs["dropout"] = dropout
    elif dropout > 0:
        raise ParamsError(f"model.arch: {spec} takes no 'dropout' argument, but a dropout rate of {dropout} is asked for")
    try:
        model = factory(**kwargs)
    except Exception as exc:
        raise ParamsError(f"model.arch: {spec}(input_shape={input_shape}, num_classes={num_classes}) failed "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(model, nn.Module):
        raise ParamsError(f"model.arch: {spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def takes_records(arch: str) -> bool:
    """Whether built-in architecture ``arch`` takes tabular records (1x1 inputs of D channels)."""
    return arch in ARCHITECTURES.names() and bool(getattr(ARCHITECTURES.get(arch), "TABULAR", False))


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs of every Conv2d and Linear, in ``named_modules()`` order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def count_parameters(model: nn.Module) -> int:
    """Total number of parameter elements (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
