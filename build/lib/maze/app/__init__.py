"""Where the engine meets the domain: the Python API, the CLI, sweeps and the dashboard.

Nothing under ``maze/`` outside this package imports ``offices``.
"""
