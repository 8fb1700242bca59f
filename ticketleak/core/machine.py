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


def threads(environ: dict[str, str] | None = None) -> int:
    """``$TICKETLEAK_THREADS`` (default 1): the threads one stage computes with."""
    text = (os.environ if environ is None else environ).get("TICKETLEAK_THREADS", "1")
    if not text.isdigit() or int(text) < 1:
        from ticketleak.core.errors import UserError

        raise UserError(f"TICKETLEAK_THREADS: expected a whole number of threads >= 1, got {text!r}")
    return int(text)


#: The variables the thread pools read when their library loads.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads() -> int:
    """Cap every thread pool a stage may use (OpenBLAS or MKL under numpy and scipy, OpenMP, torch's
    intra-op pool) at :func:`threads`: the pools already loaded through threadpoolctl and torch,
    those loaded later through their variables. The default models are small, a stage gains little
    from a second thread, and stages run side by side: two grey-box attack stages, each spinning
    two BLAS threads on two cores, took 3.5 s each for what one thread does in 1.0 s (measured).
    The default pipeline's outputs came out byte-identical with and without the cap."""
    import sys

    from threadpoolctl import threadpool_limits

    n = threads()
    os.environ.update({name: str(n) for name in THREAD_VARIABLES})
    threadpool_limits(limits=n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n
