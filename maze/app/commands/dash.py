"""``maze dash``: the live teaching dashboard, on http://127.0.0.1:8050 by default."""

from __future__ import annotations

import argparse


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError("a port is between 1 and 65535")
    return n


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "dash", help="start the live dashboard: the city's levers as controls",
        description="Start a Dash app where the levers of a city are controls (regime, "
                    "households, seed, patience, documents required, each deflection "
                    "mechanism and its settings). Changing a control runs the model again and "
                    "redraws the report's figures; a panel follows one household.")
    p.add_argument("scenario", nargs="?", help="scenario TOML file (default: the built-in city)")
    p.add_argument("--preset", help="start from a built-in city (see `maze presets`)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--households", type=int, help="start with this many households")
    p.add_argument("--port", type=_port, default=8050, help="port on 127.0.0.1 (default 8050)")
    return {"dash": cmd_dash}


def _check_port(port: int) -> None:
    import socket

    from maze.scenario import ScenarioError

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise ScenarioError(f"port {port} is in use on 127.0.0.1; choose another with "
                                "--port N", source="--port") from None


def cmd_dash(args: argparse.Namespace) -> int:
    from maze.app import api
    from maze.app.dashboard import create_app

    overrides = {}
    if args.households is not None:
        overrides["population.households"] = args.households
    scenario = api.load(args.scenario, args.preset, overrides)
    _check_port(args.port)
    app = create_app(scenario, args.seed)
    print(f"maze dash: {scenario.city.name} on http://127.0.0.1:{args.port}/ (Ctrl+C stops it)",
          flush=True)
    app.run(host="127.0.0.1", port=args.port, debug=False)
    return 0
