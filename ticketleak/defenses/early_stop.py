"""Early stopping (seed 002): keep the best-validation epoch, stop ``patience`` epochs after it."""

from __future__ import annotations

from dataclasses import dataclass

from ticketleak.core.schema import Section, at_least

WHEN = "train"


@dataclass(frozen=True)
class Settings(Section):
    patience: int

    def check(self) -> None:
        at_least(self, "patience", 1)


def patience(s: Settings) -> int:
    return s.patience
