"""``maze dash``: the live teaching dashboard, on http://127.0.0.1:8050 by default.

Only this machine can reach it unless ``--host`` says otherwise: a class whose students
connect from their own devices passes ``--host 0.0.0.0`` and gets a warning, since the
dashboard has no password and every visitor can make the server run the model.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from maze.app.cli import add_city_arguments, load_city, whole_number

_port = whole_number(1, 65535, what="a port number", outside="a port is between 1 and 65535")


def register(subparsers: argparse._SubParsersAction) -> dict:
    p = subparsers.add_parser(
        "dash", help="start the live dashboard: the city's levers as controls",
        description="Start a Dash app where the levers of a city are controls (regime, "
                    "households, seed, patience, documents required, each deflection "
                    "mechanism and its settings). Changing a control runs the model again and "
                    "redraws the report's figures; a panel follows one household.")
    add_city_arguments(p)
    p.add_argument("--port", type=_port, default=8050, help="port to listen on (default 8050)")
    p.add_argument("--host", type=_host, default=LOOPBACK,
                   help="address to listen on (default 127.0.0.1: this machine only). "
                        "--host 0.0.0.0 lets other devices on the network connect, e.g. "
                        "students' laptops in a classroom; there is no password, so use it "
                        "only on a network you trust")
    return {"dash": cmd_dash}


LOOPBACK = "127.0.0.1"


def _host(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        if text == "localhost":
            return LOOPBACK
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r} (e.g. 127.0.0.1 or "
                                         "0.0.0.0)") from None


def is_local(host: str) -> bool:
    """Whether only this machine can connect to an address."""
    return ipaddress.ip_address(host).is_loopback


def _check_port(host: str, port: int) -> None:
    import socket

    from maze.scenario import ScenarioError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ScenarioError(f"cannot listen on {host} port {port} ({exc.strerror}); "
                                "choose another with --port N or --host", source="--port"
                                ) from None


def cmd_dash(args: argparse.Namespace) -> int:
    from maze.app.dashboard import create_app

    scenario = load_city(args)
    _check_port(args.host, args.port)
    if not is_local(args.host):
        print(f"maze dash: warning: listening on {args.host}: any device that can reach this "
              f"machine on port {args.port} can open the dashboard and make it run the model. "
              "There is no password and no encryption; use this only on a network you trust "
              "(a classroom), and stop the dashboard after class.", file=sys.stderr, flush=True)
    app = create_app(scenario, args.seed)
    shown = "127.0.0.1" if is_local(args.host) else (
        "<this machine's address>" if ipaddress.ip_address(args.host).is_unspecified
        else args.host)
    if ":" in shown and not shown.startswith("<"):
        shown = f"[{shown}]"
    print(f"maze dash: {scenario.city.name} on http://{shown}:{args.port}/ (Ctrl+C stops it)",
          flush=True)
    serve(app.server, host=args.host, port=args.port)
    return 0


def serve(server: object, host: str, port: int) -> None:
    """Serve the app with waitress, a production WSGI server (Flask's own server is for
    development only and says so on every start); a few threads answer a class at once."""
    import waitress

    waitress.serve(server, host=host, port=port, threads=8, _quiet=True)
