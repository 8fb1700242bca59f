"""Stage prepare: load the dataset and write seeded, class-balanced, disjoint splits.

Writes data/prepared/target.npz and one shadow-<id>.npz per shadow (members, non-members,
validation; shadows' from the data the target never sees), population.npz (RMIA's population,
ticketleak.population) and meta.json (shape, classes, normalisation).
"""

import argparse
from pathlib import Path

import numpy as np

from ticketleak import population, splits
from ticketleak.core import layout, params, store
from ticketleak.core.cli import run
from ticketleak.datasets import DatasetError, load_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=layout.PREPARED)
    args = parser.parse_args()
    p = params.load()
    d = p.data
    pool = load_pool(d.name, root=d.root, path=d.path, label=d.label)
    x, y, classes = pool.x, pool.y, list(pool.classes)
    if d.classes is not None:
        bad = [c for c in d.classes if c >= len(classes)]
        if bad:
            raise DatasetError(f"data.classes: {d.name} has {len(classes)} classes (0..{len(classes) - 1}); got {bad}")
        keep = np.isin(y, d.classes)
        remap = {c: i for i, c in enumerate(d.classes)}
        x, y = x[keep], np.array([remap[int(v)] for v in y[keep]], dtype=np.int64)
        classes = [classes[c] for c in d.classes]
    splits.check_pool(x, y, classes, d.name if d.name not in ("imagefolder", "tabular") else str(d.path))
    target, pool_idx = splits.target_split(y, d.target_size, d.val_size, d.seed, classes)
    shadows = {i: splits.shadow_split(y, pool_idx, d.shadow_size, d.val_size, d.seed, i, classes) for i in p.shadow.ids}
    candidates = np.concatenate([target.members, target.nonmembers])
    pop = population.choose(candidates, target.val, pool_idx, p.attack.reference.population, d.seed)
    scaled = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)  # tabular: as they are
    meta = {
        "dataset": d.name,
        "classes": classes,
        "num_classes": len(classes),
        "channels": int(x.shape[1]),
        "image_size": int(x.shape[2]),
        "mean": scaled.mean(axis=(0, 2, 3)).round(6).tolist(),
        "std": np.maximum(scaled.std(axis=(0, 2, 3)), 1e-6).round(6).tolist(),
        "pool_size": int(len(y)),
        "shadow_pool_size": int(len(pool_idx)),
    }
    with store.staged_dir(args.out) as tmp:
        splits.save_split(tmp / "target.npz", target, x, y)
        for i, split in shadows.items():
            splits.save_split(tmp / layout.shadow(i).split.name, split, x, y)
        store.save_arrays(tmp / population.FILE, {"idx": pop, "x": x[pop], "y": y[pop]})
        store.write_json(tmp / "meta.json", meta)
    print(
        f"prepared {d.name}: {len(y)} samples, {len(classes)} classes; target {d.target_size} in / "
        f"{d.target_size} out / {d.val_size} val; {len(shadows)} shadows of {d.shadow_size} in / out / {d.val_size} val"
    )


if __name__ == "__main__":
    run(main)
