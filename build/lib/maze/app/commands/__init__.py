"""Subcommands of ``maze`` beyond run/validate/presets, one module each.

A module here defines ``register(subparsers) -> dict[str, handler]``; the CLI
discovers it, so adding a command never means editing the CLI itself.
A handler takes the parsed arguments and returns an exit code.
"""
