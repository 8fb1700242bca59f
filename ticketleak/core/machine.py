"""The CPU code paths a stage's numbers may depend on, pinned so that every x86-64 machine with
AVX2 computes the same bits.

PyTorch picks SIMD kernels for the CPU it runs on (ATen's AVX-512 or AVX2 kernels, oneDNN's
convolutions, MKL's matrix products), and kernels of different widths sum in different orders:
the same seed trains different weights on an AVX-512 machine and on an AVX2 one. :func:`pin`
asks all three libraries for their AVX2 paths (and MKL for its reproducible AVX2 mode) unless
the environment already says otherwise. It runs before a stage's work (``cli.run``) and before
the parallel runner starts its preloaded interpreter; the libraries read these variables when
their first kernel runs, not when torch is imported.

``TICKETLEAK_CPU=native`` leaves the choice to the libraries (faster on AVX-512 machines; the
results then match only machines with the same kernels). CPUs without AVX2 fall back to their
own paths. GPUs are unaffected.
"""

from __future__ import annotations

import os
import platform

PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions)
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility (matrix products)
}
NATIVE = "native"


def pin(environ: dict[str, str] | None = None, machine: str | None = None) -> dict[str, str]:
    """Set each of :data:`PINS` that ``environ`` (default ``os.environ``) does not set already;
    nothing on non-x86 CPUs or with ``TICKETLEAK_CPU=native``. Returns what it set."""
    env = os.environ if environ is None else environ
    arch = (machine or platform.machine()).lower()
    if env.get("TICKETLEAK_CPU", "") == NATIVE or arch not in ("x86_64", "amd64"):
        return {}
    added = {k: v for k, v in PINS.items() if k not in env}
    env.update(added)
    return added
