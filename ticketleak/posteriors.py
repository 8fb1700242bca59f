"""Query a model on its members and non-members and keep what attacks need: logits, loss, and
SAMIA's sensitivity (seed 002), which needs the model and so is extracted here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ticketleak.tensors import Tensors
from ticketleak.training import predict_logits


def query(model: torch.nn.Module, members: Tensors, nonmembers: Tensors) -> dict[str, np.ndarray]:
    """Logits, labels, membership (1 = trained on) and per-sample cross-entropy, members first."""
    x = torch.cat([members[0], nonmembers[0]])
    y = torch.cat([members[1], nonmembers[1]])
    logits = predict_logits(model, x)
    return {
        "logits": logits.numpy().astype(np.float32),
        "labels": y.numpy(),
        "member": np.r_[np.ones(len(members[1]), bool), np.zeros(len(nonmembers[1]), bool)],
        "loss": F.cross_entropy(logits, y, reduction="none").numpy(),
    }


def sensitivity(
    model: torch.nn.Module,
    x: torch.Tensor,
    m: int = 10,
    eps: float = 1e-3,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """SAMIA's sensitivity (seed 002): ``s = (1/m) sum_j |softmax(f(x + eps u_j)) - softmax(f(x))| / eps``
    with ``u_j ~ N(0, I)`` drawn per sample in the (normalised) input space; model in eval mode, no
    gradients. Returns (N, C) float64; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    parts = []
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb = x[start : start + batch_size].to(device)
                p = torch.softmax(model(xb), dim=1)
                total = torch.zeros_like(p)
                for _ in range(m):
                    u = torch.randn(xb.shape, generator=gen).to(device=device, dtype=xb.dtype)
                    total += (torch.softmax(model(xb + eps * u), dim=1) - p).abs()
                parts.append((total / (m * eps)).double().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(parts)
