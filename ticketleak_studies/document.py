"""The rendering state of a report, shared by :mod:`ticketleak_studies.report` and the report
kinds in :mod:`ticketleak_studies.sections` (which import this module, never ``report``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ticketleak_studies.gathered import Gathered, RunData
from ticketleak_studies.presets import Study
from ticketleak_studies.sources import Source


@dataclass
class Report:
    """Rendering state: the gathered runs, and the figures the Markdown links to (copied by
    :func:`ticketleak_studies.report.write_report` from each run's source)."""

    gathered: Gathered
    figure_dir: str  # relative to the report file
    figures: list[tuple[Source, str, str]] = field(default_factory=list)  # (source, path in run, file name)

    @property
    def study(self) -> Study:
        return self.gathered.study

    @property
    def opts(self) -> dict:
        return self.study.report

    def ref(self, *keys: str) -> Any:
        node: Any = self.study.reference
        for k in keys:
            if not isinstance(node, Mapping):
                return None
            node = node.get(k, node.get(int(k)) if isinstance(k, str) and k.isdigit() else None)
        return node

    def source(self, table_key: str) -> str:
        return str(self.ref(table_key, "source") or "seed")

    def seed_setting(self, table_key: str) -> list[str]:
        setting = self.ref(table_key, "setting")
        return [f"Seed's setting ({self.source(table_key)}): {setting}.", ""] if setting else []

    def figure(self, r: RunData, name: str) -> str:
        """Register a figure of run ``r`` (``plots/<name>``) and return its Markdown link."""
        file = f"{r.dataset}-{r.run}-{name}"
        self.figures.append((r.source, f"plots/{name}", file))
        return f"[{r.run}: {name}]({self.figure_dir}/{file})"
