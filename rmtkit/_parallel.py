"""Host-side parallelism for LAPACK work: one matrix per task, one thread per core, BLAS single-threaded.

On a CPU, many medium-sized eigenproblems finish sooner side by side than one after another with
a multi-threaded BLAS: the tridiagonal reduction of ``eigvalsh`` barely uses a second thread, and
OpenBLAS's idle threads keep spinning after each call, slowing whatever runs next (measured in
``benchmarks/bench_analyzer.py`` and ``benchmarks/bench_powerlaw.py``). NumPy releases the GIL in
LAPACK, and JAX in its computations, so threads suffice. While a :func:`host_map` runs, BLAS is
single-threaded for the whole process (threadpoolctl's limits are global); it is restored after.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")

#: One controller for the process: building one enumerates the loaded libraries (milliseconds, too much
#: for the refresh inside a training step). Rebuilt when a package that brings its own BLAS was imported
#: since (SciPy's OpenBLAS, PyTorch's MKL), so that its library is limited too.
_CONTROLLER: ThreadpoolController | None = None
_CONTROLLER_SAW: tuple[bool, ...] = ()
_OWN_BLAS = ("scipy.linalg", "torch")


def one_blas_thread():
    """A context in which the BLAS libraries (NumPy's and SciPy's OpenBLAS, MKL) run on one thread.

    The one thread limit of the package: :func:`host_map` and the host eigenvalues of
    :mod:`rmtkit.spectra` use it. It limits the libraries loaded when it is first called.
    """
    global _CONTROLLER, _CONTROLLER_SAW
    saw = tuple(name in sys.modules for name in _OWN_BLAS)
    if _CONTROLLER is None or saw != _CONTROLLER_SAW:
        _CONTROLLER, _CONTROLLER_SAW = ThreadpoolController(), saw
    return _CONTROLLER.limit(limits=1, user_api="blas")


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def host_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None,
             on_done: Callable[[int], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on a thread pool with single-threaded BLAS, results in input order.

    Args:
        fn: the work for one item; an exception it raises propagates (catch inside ``fn`` to keep
            the other items' results).
        items: the inputs; submitted in this order (put the largest first).
        workers: threads (default: one per core).
        on_done: called with an item's index as soon as it finishes (a progress bar's update).
    """
    items = list(items)
    if not items:
        return []
    workers = max(1, min(len(items), workers or cpu_count()))
    out: list = [None] * len(items)
    with one_blas_thread(), ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            i = futures[future]
            out[i] = future.result()
            if on_done is not None:
                on_done(i)
    return out
