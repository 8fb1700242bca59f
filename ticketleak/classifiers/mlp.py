"""Multi-layer perceptron (Shokri 2017's attack model; seed 000): ``attack.shokri.hidden`` widths.

scikit-learn's MLP multiplies through BLAS, whose summation order depends on the kernel OpenBLAS
picks for the CPU; over hundreds of Adam steps the last-bit differences grow into different attack
models, or move the epoch where the stopping rule fires (seen: 107 against 121 iterations, 18 of
700 decisions different). So the model here is scikit-learn's MLP with every matrix product of
fitting and prediction summed in a fixed order (:func:`fixed_order_dot`): the
same algorithm, initialisation, batches, dtype and stopping rule, and the same bits on every x86
CPU. (The L2 term of the monitored loss is still a 1-D dot product; it could matter only where a
last-bit change straddled the stopping tolerance.)
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cache

import numpy as np


def make(hidden: list[int], max_iter: int, seed: int):
    return _fixed_order_mlp()(hidden_layer_sizes=tuple(hidden), max_iter=max_iter, random_state=seed)


@cache
def _fixed_order_mlp() -> type:
    from sklearn.neural_network import MLPClassifier
    from sklearn.neural_network import _multilayer_perceptron as mlp_module


    @contextmanager
    def fixed_dot():
        saved = mlp_module.safe_sparse_dot
        mlp_module.safe_sparse_dot = fixed_order_dot
        try:
            yield
        finally:
            mlp_module.safe_sparse_dot = saved

    class FixedOrderMLPClassifier(MLPClassifier):
        def _fit(self, *args, **kwargs):
            with fixed_dot():
                return super()._fit(*args, **kwargs)

        def _forward_pass_fast(self, *args, **kwargs):
            with fixed_dot():
                return super()._forward_pass_fast(*args, **kwargs)

    return FixedOrderMLPClassifier


_DOT_BLOCK = 1 << 13  # elements of the (rows, k, m) product formed at once (64 KiB in float64)


def fixed_order_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D float arrays, summed in an order fixed by numpy's own loops instead of
    BLAS: each product is formed elementwise and summed over ``k`` by numpy, so the result
    depends on the inputs (and numpy's version) only, not on the BLAS kernel OpenBLAS picks for
    the CPU (Haswell, SkylakeX, ...) or its thread count. Other operands (1-D, sparse) go to
    scikit-learn's ``safe_sparse_dot``.

    Two ways to sum, chosen by which takes fewer numpy calls; they give the same bits wherever
    both apply. When ``b`` is C-contiguous with ``m > 1`` columns, the ``(rows, k, m)`` product is
    laid out with ``m`` innermost, and numpy's reduction over ``k`` adds the terms one after another,
    which is what :func:`_k_loop` does with one ``(n, m)`` product per ``k`` (fewer calls when ``k``
    is small against ``n``). Otherwise ``k`` may be the contiguous axis, numpy then sums pairwise,
    and only the blocks give those bits."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == b.ndim == 2):
        from sklearn.utils.extmath import safe_sparse_dot

        return safe_sparse_dot(a, b)
    n, k = a.shape
    m = b.shape[1]
    rows = max(1, _DOT_BLOCK // max(k * m, 1))
    if m > 1 and b.flags.c_contiguous and 0 < k < -(-n // rows):
        return _k_loop(a, b)
    out = np.empty((n, m), dtype=np.result_type(a, b))
    for start in range(0, n, rows):
        np.add.reduce(a[start : start + rows, :, None] * b[None, :, :], axis=1, out=out[start : start + rows])
    return out


def _k_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_k a[:, k] b[k]`` accumulated in order of ``k``, each product rounded before it is added."""
    out = np.multiply(a[:, :1], b[0])
    term = np.empty_like(out)
    for j in range(1, a.shape[1]):
        np.multiply(a[:, j : j + 1], b[j], out=term)
        out += term
    return out
