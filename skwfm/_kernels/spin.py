"""A barrier for threads that run numba kernels over shared arrays, without the GIL.

The replicated solver's rounds are a fraction of a millisecond long; a
:class:`threading.Barrier` costs about as much (a thread wakes up through the operating
system and needs the interpreter lock), so the threads meet inside their kernels
instead, on one shared int64 counter. Every thread adds 1 when it arrives at a barrier;
the ``b``-th barrier of ``T`` threads is passed once the counter reaches ``b·T``. The
increment is an atomic read-modify-write with release semantics (the arriving thread's
writes to the shared arrays become visible) and the waiting loop reads the counter with
acquire semantics (what the other threads wrote before arriving is then seen).
numba has no atomics on the CPU, hence the two LLVM intrinsics below.
"""

from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


def _item_pointer(context, builder, array_type, array, index):
    array = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, array, [index],
                                    wraparound=False)


@intrinsic
def atomic_add(typingctx, array, index, value):
    """``array[index] += value`` as one atomic operation (sequentially consistent) on an
    int64 array; returns the old value."""
    if not isinstance(array, types.Array) or array.dtype != types.int64:
        return None
    signature = types.int64(array, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        pointer = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("add", pointer, args[2], "seq_cst")

    return signature, codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """``array[index]`` of an int64 array, read with acquire semantics (never cached in a
    register by the compiler, so a waiting loop sees other threads' writes)."""
    if not isinstance(array, types.Array) or array.dtype != types.int64:
        return None
    signature = types.int64(array, types.intp)

    def codegen(context, builder, sig, args):
        pointer = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "acquire", 8)

    return signature, codegen


@njit(cache=True, nogil=True)
def barrier(counter, state, n_threads, max_spins):
    """Barrier of ``n_threads`` threads on ``counter[0]``; ``state`` is this thread's
    ``[arrived, barriers passed, reads spent waiting]``.

    Arrives (once), then spins until every thread has arrived. Returns ``False`` after
    ``max_spins`` fruitless reads with ``state`` kept, so that calling again resumes the
    wait (the caller yields the CPU in between: on a loaded machine the thread it waits
    for may not be running); ``True`` once the barrier is passed. The reads add up in
    ``state[2]``: a measure of the time lost waiting for the other threads.
    """
    if state[0] == 0:
        atomic_add(counter, 0, 1)
        state[0] = 1
    target = (state[1] + 1) * n_threads
    for i in range(max_spins):
        if atomic_load(counter, 0) >= target:
            state[0] = 0
            state[1] += 1
            state[2] += i
            return True
    state[2] += max_spins
    return False
