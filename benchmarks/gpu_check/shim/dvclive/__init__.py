"""Device-check stand-in for dvclive (not installed on the GPU machine): metrics to a JSON-lines file."""
import json
from pathlib import Path


class Live:
    def __init__(self, path, **_):
        self.dir = Path(path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.step, self.row = 0, {}

    def log_metric(self, key, value):
        self.row[key] = float(value)

    def next_step(self):
        with (self.dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"step": self.step, **self.row}) + "\n")
        self.step, self.row = self.step + 1, {}

    def end(self):
        pass
