"""Knowledge distillation (Hinton et al. 2015, as ML-Doctor uses it; seed 004): the model learns
from the undefended teacher's logits on the training set (``Data.teacher``) as well as the labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ticketleak.core.schema import Section, at_least, within
from ticketleak.training import Hook

WHEN = "train"
NEEDS_TEACHER = True


@dataclass(frozen=True)
class Settings(Section):
    alpha: float
    temperature: float

    def check(self) -> None:
        within(self, "alpha", 0, 1, "[]")
        at_least(self, "temperature", 0, strict=True)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    y: torch.Tensor,
    alpha: float,
    temperature: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``KL(softmax(t/T) || softmax(s/T)) * T^2 * alpha + CE(s, y) * (1 - alpha)``, the KL averaged
    over the batch. ``alpha = 0`` is plain cross-entropy; the teacher is not trained (detached).
    """
    ce = F.cross_entropy(student_logits, y, label_smoothing=label_smoothing)
    if alpha == 0:
        return ce
    t = teacher_logits.detach()
    kl = F.kl_div(
        F.log_softmax(student_logits / temperature, 1), F.log_softmax(t / temperature, 1),
        reduction="batchmean", log_target=True,
    )
    return kl * (temperature**2 * alpha) + ce * (1 - alpha)


class Distill(Hook):
    """The distillation loss against ``teacher`` (N x C, one row per training sample, indexed
    with the batch's indices: with augmentation the teacher's logits stay those of the
    un-augmented images)."""

    def __init__(self, teacher: torch.Tensor, alpha: float, temperature: float) -> None:
        self.teacher, self.alpha, self.temperature = teacher.detach(), alpha, temperature

    def loss(self, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return distillation_loss(logits, self.teacher[idx].to(logits.device), y, self.alpha, self.temperature)


def hook(s: Settings, data, *_: object) -> Hook:  # noqa: ANN001 (ticketleak.defenses.Data)
    if data.teacher is None or len(data.teacher) != len(data.train[0]):
        raise ValueError("distillation needs the teacher's logits, one row per training sample (Data.teacher)")
    return Distill(data.teacher, s.alpha, s.temperature)
