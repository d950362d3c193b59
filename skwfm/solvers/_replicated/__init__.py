"""How :class:`~skwfm.solvers.Replicated` runs: one fit's state and its two drivers.

- :mod:`.fit`: :class:`~.fit.StackFit`, what one fit of a stack of networks keeps (the
  kernel's arrays, the replicas' pattern orders, the history and the results); both
  drivers run one.
- :mod:`.threads`: threads that share a stack for the whole fit and meet at barriers
  inside the kernel (joblib's thread backends).
- :mod:`.processes`: one joblib call per round over groups of replicas (any other
  backend: processes, a dask cluster).
"""
