"""Dropout (seed 003): the model's hidden layers drop units at ``rate`` (instead of ``model.dropout``)."""

from __future__ import annotations

from dataclasses import dataclass

from ticketleak.core.schema import Section, within

WHEN = "train"


@dataclass(frozen=True)
class Settings(Section):
    rate: float

    def check(self) -> None:
        within(self, "rate", 0, 1, "()")


def dropout(s: Settings) -> float:
    return s.rate
