"""SAMIA, the self-attention membership-inference attack of Yuan & Zhang 2022 (seed 002).

Per sample the attack sees, from the (pruned) model in eval mode, the posterior ``p``, its
sensitivity ``s`` to small Gaussian input noise, and the one-hot label ``y`` (C values each);
class c becomes the token (p_c, s_c, y_c) and a small Transformer encoder classifies the C tokens
as member / non-member. Architecture and training follow the authors' code (docs/algorithms.md section 3.7).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ticketleak.attacks import Scored, best_threshold


def samia_features(probs: np.ndarray, sens: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The 3C input vector ``[p, s, onehot(y)]`` per sample, float32."""
    onehot = np.eye(probs.shape[1])[labels]
    return np.hstack([probs, sens, onehot]).astype(np.float32)


class SamiaNet(nn.Module):
    """SAMIA's network (seed 002, authors' code): BatchNorm1d over the 3C vector -> C tokens
    (p_c, s_c, y_c) -> Linear(3, 64) + GELU -> TransformerEncoder (3 layers, d_model 64, 4 heads,
    feed-forward 128, dropout 0.2, GELU; no positional encoding) -> flatten -> Linear(64 C, 64) +
    ReLU -> Linear(64, 2)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.norm = nn.BatchNorm1d(3 * num_classes)
        self.embed = nn.Sequential(nn.Linear(3, 64), nn.GELU())
        layer = nn.TransformerEncoderLayer(
            d_model=64, nhead=4, dim_feedforward=128, dropout=0.2, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * num_classes, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (N, 3C) laid out as [p, s, y]; returns (N, 2) logits (class 1 = member)."""
        z = self.norm(x).view(len(x), 3, self.num_classes).transpose(1, 2)  # (N, C, 3) tokens
        return self.head(self.encoder(self.embed(z)))


def samia_attack(
    shadow_probs: np.ndarray,
    shadow_sens: np.ndarray,
    shadow_labels: np.ndarray,
    shadow_member: np.ndarray,
    target_probs: np.ndarray,
    target_sens: np.ndarray,
    target_labels: np.ndarray,
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Scored:
    """Train SamiaNet on the shadows' in (1) / out (0) points (seed 002): cross-entropy, SGD
    (momentum 0.9, weight decay 5e-4), LR x0.1 at 50% and 75% of ``epochs``; score = the softmax
    probability of class 1 on the target, member iff at least the threshold that maximises the
    balanced accuracy of the same score on the shadows' training points. Seeded; CPU by default."""
    torch.manual_seed(seed)
    num_classes = shadow_probs.shape[1]
    x = torch.from_numpy(samia_features(shadow_probs, shadow_sens, shadow_labels))
    y = torch.from_numpy(np.asarray(shadow_member).astype(np.int64))
    net = SamiaNet(num_classes).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[epochs // 2, (3 * epochs) // 4], gamma=0.1)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples in training mode
                continue
            opt.zero_grad()
            loss_fn(net(x[idx].to(device)), y[idx].to(device)).backward()
            opt.step()
        sched.step()
    net.eval()

    def member_probability(features: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            chunks = [net(features[i : i + 1024].to(device)).softmax(1)[:, 1].cpu() for i in range(0, len(features), 1024)]
        return torch.cat(chunks).double().numpy()

    fit = member_probability(x)  # the decision threshold is calibrated on the shadows, not fixed at 0.5
    member = np.asarray(shadow_member, dtype=bool)
    threshold = best_threshold(fit[member], fit[~member])
    score = member_probability(torch.from_numpy(samia_features(target_probs, target_sens, target_labels)))
    return Scored(score, score >= threshold)
