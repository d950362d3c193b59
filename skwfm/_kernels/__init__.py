"""Numba kernels: plain arrays and scalars in, nothing from scikit-learn.

Every kernel is ``@njit(cache=True, nogil=True)`` and serial; parallelism comes from joblib
threads around them. Each has a plain-Python twin (``kernel.py_func``) or a slow reference
in ``tests/`` that it is checked against.
"""
