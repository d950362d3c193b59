"""The thread driver of replicated SGD: threads that share a stack for the whole fit.

A round is a fraction of a millisecond, too short for joblib's polling (10 ms) or for
waking threads through the operating system. So each of the fit's threads is one joblib
task that lasts the whole fit: it runs its share of a chunk of up to CHUNK_EPOCHS epochs
in one call of :func:`~skwfm._kernels.replicated_schedule.replicated_epochs`, meeting
the other threads at barriers inside the kernel (:mod:`skwfm._kernels.spin`); nothing
returns to Python within a chunk. Between chunks each thread draws the pattern orders of
the next chunk's epochs for its share of the replicas, and thread 0 reads the clock and
prints progress. The waiting happens in nogil kernels, so a thread in Python keeps the
interpreter to itself.
"""

import time

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from ..._kernels.replicated import share
from ..._kernels.replicated_schedule import replicated_epochs
from ..._kernels.spin import barrier

#: largest number of epochs run in one kernel call (fewer when their pattern orders,
#: n_epochs × n_replicas × M integers drawn up front, would pass CHUNK_ORDERS)
CHUNK_EPOCHS = 16
CHUNK_ORDERS = 2**20

#: reads of the shared counter a thread spins for at an in-kernel barrier before it
#: gives its core away (about 0.1 ms: on a quiet machine the others arrive long before,
#: on a loaded one the thread waited for may need the core)
MAX_SPINS = 200_000

#: seconds a thread sleeps after MAX_SPINS fruitless reads
YIELD_SECONDS = 1e-4

#: seconds a thread waits for the others at one barrier before giving up (a safety net
#: against a backend that does not run the threads concurrently)
BARRIER_TIMEOUT = 600.0

#: int64 entries of a cache line: each thread's barrier state sits in a line of its own
#: (threads writing to one line would stall each other at every write)
CACHE_LINE = 8


def chunk_epochs(n_replicas, n_samples, max_iter):
    """Epochs whose pattern orders are drawn at once, and run in one kernel call."""
    return int(max(1, min(CHUNK_EPOCHS, max_iter,
                          CHUNK_ORDERS // max(1, n_replicas * n_samples))))


class ThreadDriver:
    """Runs a :class:`~skwfm.solvers._replicated.fit.StackFit` with ``n_threads``
    threads sharing the in-kernel schedule (any number, 1 included)."""

    def __init__(self, fit, n_threads):
        self.fit, self.n_threads = fit, int(n_threads)
        self.sync = np.zeros(1, dtype=np.int64)  # the barriers' shared counter
        self.failed = False

    def run(self):
        if self.n_threads == 1:
            self.thread(0)
            return
        with Parallel(n_jobs=self.n_threads, prefer="threads", batch_size=1) as parallel:
            parallel(delayed(self.thread)(t) for t in range(self.n_threads))

    def thread(self, thread):
        """The whole-fit task of one thread."""
        fit = self.fit
        # [step, arrived, barriers passed, reads spent waiting]
        progress = np.zeros(3 * CACHE_LINE, dtype=np.int64)[CACHE_LINE:CACHE_LINE + 4]
        state = progress[1:]
        replicas = share(fit.n_replicas, thread, self.n_threads)
        chunk = fit.orders.orders.shape[0]
        try:
            while True:
                # the epoch count only changes inside a chunk: between chunks every
                # thread reads the same value
                first, n = fit.epoch, min(chunk, fit.epochs_left())
                fit.orders.draw(*replicas, n)
                self._wait_for(lambda: barrier(self.sync, state, self.n_threads,
                                               MAX_SPINS), progress)
                self._wait_for(lambda: replicated_epochs(
                    fit.data, fit.stack, fit.work, fit.record, fit.settings,
                    fit.orders.orders[:n], first, thread, self.n_threads, self.sync,
                    progress, MAX_SPINS), progress)
                if thread == 0:
                    fit.history.update(fit.record)
                if self.n_threads == 1:
                    # with several threads a restart could stop in one and not yet in
                    # another: restarts run with one thread each (BaseBinaryNetwork)
                    fit.share_restarts()
                if fit.done:
                    return
        except BaseException:
            self.failed = True
            raise

    def _wait_for(self, call, progress):
        """Call ``call()`` until it returns ``True`` (a kernel that gave up waiting at a
        barrier returns ``False``), yielding the CPU in between; fail after
        BARRIER_TIMEOUT seconds at the same barrier (``progress`` unchanged) or when
        another thread failed."""
        deadline, seen = time.monotonic() + BARRIER_TIMEOUT, progress[:3].tolist()
        while not call():
            if progress[:3].tolist() != seen:
                deadline, seen = time.monotonic() + BARRIER_TIMEOUT, progress[:3].tolist()
            if self.failed or time.monotonic() > deadline:
                raise RuntimeError("solver='replicated': a replica thread failed or never "
                                   "started")
            time.sleep(YIELD_SECONDS)
