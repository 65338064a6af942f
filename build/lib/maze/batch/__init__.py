"""Batches of runs: plan them, execute them anywhere, store and resume them, merge their tables.

One layer under every command that runs a city many times (``maze sweep``, ``maze
sensitivity``, ``maze ablate``, ``maze calibrate``):

- :mod:`maze.batch.plan`: settings x seeds -> run specs with stable ids;
- :mod:`maze.batch.execute`: local processes, a thread, or a Dask cluster;
- :mod:`maze.batch.store`: one folder per finished run, written whole or not at all;
- :mod:`maze.batch.tables`: the merged tables and their confidence bands.

The layer knows nothing of the domain: what one run computes is a function handed to
:func:`maze.batch.execute.execute`, and the code fingerprint that names runs is given by
the caller (see :func:`maze.batch.plan.code_fingerprint`).
"""
