"""Cross-check our shadow attacks against IBM ART's MembershipInferenceBlackBox on the same posteriors.

Reads a posteriors folder (``target.npz`` and ``shadow-*.npz``, each with ``logits``, ``labels``,
``member``) and prints AUC and balanced accuracy side by side for two fitting regimes:

- ``shadow``: ART's attack model fitted on the shadows' posteriors (members -> ``pred``,
  non-members -> ``test_pred``; ART accepts precomputed predictions, so no model is queried),
  exactly the data our ``shokri_attacks`` / ``threshold_attacks`` fit on; evaluated on the
  whole target evaluation set.
- ``leak-half``: ART's documented usage, fitted on the target's own posteriors for a stratified
  half of its members and non-members; evaluated on the other half. Our attacks stay fitted on
  the shadows and are scored on the same half.

ART's default attack models see the posterior and the one-hot label (``use_label``), standardised.
ART is not a project dependency:

    .venv/bin/python benchmarks/art_compare.py --posteriors posteriors/seed-0/none/dense
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ticketleak.attacks import Observed, Scored, shokri_attacks, threshold_attacks
from ticketleak.greybox import leak_split
from ticketleak.metrics import attack_metrics
from ticketleak.core.store import load_arrays
from ticketleak.tensors import softmax


def observe(path: Path) -> Observed:
    a = load_arrays(path)
    return Observed(softmax(a["logits"].astype(np.float64)), a["labels"], a["member"].astype(bool))


def art_attack(model_type: str, fit: Observed, evaluate: Observed, seed: int) -> Scored:
    """ART's MembershipInferenceBlackBox (input_type='prediction') fitted on ``fit``'s posteriors."""
    import torch
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from art.estimators.classification import BlackBoxClassifier

    def never(_x: np.ndarray) -> np.ndarray:
        raise RuntimeError("predictions are passed in; the estimator is never queried")

    num_classes = fit.probs.shape[1]
    estimator = BlackBoxClassifier(never, input_shape=(num_classes,), nb_classes=num_classes)
    np.random.seed(seed)  # ART's sklearn models take no random_state: they draw from the global RNG
    torch.manual_seed(seed)
    attack = MembershipInferenceBlackBox(estimator, input_type="prediction", attack_model_type=model_type)
    m = fit.member
    attack.fit(
        x=None, y=fit.labels[m], test_x=None, test_y=fit.labels[~m],
        pred=fit.probs[m].astype(np.float32), test_pred=fit.probs[~m].astype(np.float32),
    )
    score = attack.infer(None, evaluate.labels, pred=evaluate.probs.astype(np.float32), probabilities=True)
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    return Scored(score, score > 0.5)


def subset(obs: Observed, idx: np.ndarray) -> Observed:
    return Observed(obs.probs[idx], obs.labels[idx], obs.member[idx])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posteriors", type=Path, required=True, help="folder with target.npz and shadow-*.npz")
    parser.add_argument("--art-models", nargs="+", default=["nn", "rf", "lr"], help="ART attack_model_type values")
    parser.add_argument("--hidden", type=int, nargs="+", default=[64], help="our Shokri MLP widths")
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import art  # noqa: F401
    except ImportError:
        print("IBM ART is missing: .venv/bin/pip install adversarial-robustness-toolbox")
        sys.exit(1)
    import torch

    torch.set_num_threads(1)
    target = observe(args.posteriors / "target.npz")
    shadow_files = sorted(args.posteriors.glob("shadow-*.npz"))
    shadow = Observed.concat([observe(p) for p in shadow_files])
    print(f"{args.posteriors}: target {len(target.labels)} samples ({target.member.sum()} members), "
          f"{len(shadow_files)} shadows ({len(shadow.labels)} samples), ART {art.__version__}")

    ours = threshold_attacks(shadow, target)
    ours.update(shokri_attacks(shadow, target, args.hidden, args.max_iter, args.seed))
    known, rest = leak_split(target.member, 0.5, args.seed)
    regimes = {
        "shadow": (shadow, np.arange(len(target.labels))),
        "leak-half": (subset(target, known), rest),
    }
    print(f"\n{'regime':10s} {'library':8s} {'attack':24s} {'n_eval':>6s} {'AUC':>6s} {'acc':>6s}")
    for regime, (fit, idx) in regimes.items():
        evaluate = subset(target, idx)
        rows = [("ART", f"blackbox_{t}", art_attack(t, fit, evaluate, args.seed)) for t in args.art_models]
        rows += [("ours", name, Scored(a.score[idx], a.decision[idx])) for name, a in ours.items()]
        for library, name, a in rows:
            m = attack_metrics(evaluate.member, a.score, a.decision)
            print(f"{regime:10s} {library:8s} {name:24s} {len(idx):6d} {m['auc']:6.3f} {m['accuracy']:6.3f}")
    print("\nours: always fitted on the shadows; 'leak-half' scores them on the target's unleaked half only")


if __name__ == "__main__":
    main()
