"""``maze dash``: the live teaching dashboard, on http://127.0.0.1:8050 by default."""

from __future__ import annotations

import argparse

from maze.app.cli import add_city_arguments, load_city


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
    add_city_arguments(p)
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
    from maze.app.dashboard import create_app

    scenario = load_city(args)
    _check_port(args.port)
    app = create_app(scenario, args.seed)
    print(f"maze dash: {scenario.city.name} on http://127.0.0.1:{args.port}/ (Ctrl+C stops it)",
          flush=True)
    app.run(host="127.0.0.1", port=args.port, debug=False)
    return 0
