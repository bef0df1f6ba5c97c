"""`trials serve`: the local web page over the store (web/), read-only."""

from __future__ import annotations

import ipaddress
import socket
import threading
import webbrowser

import click

from trialscope.cli.options import command_home
from trialscope.cli.output import handles_errors
from trialscope.core.errors import TrialsError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    """A port in use (or an address this machine does not have) is the error contract's
    ``Error: ...`` line, not a server log line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TrialsError("bad_argument", f"--host '{host}' is not an address here ({exc}).",
                          "Leave --host out to serve on 127.0.0.1.") from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise TrialsError("port_in_use", f"Cannot listen on {host}:{port} "
                              f"({exc.strerror or exc}).",
                              f"Give another port (--port {port + 1 if port else 8001}) or "
                              "stop the program using this one.") from exc


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on.  Anything but a loopback address lets other "
                   "machines read the store (a warning is printed).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.pass_context
@handles_errors
def serve(ctx: click.Context, host: str, port: int, open_browser: bool) -> None:
    """A local web page over the store: search, trial pages, changes.

    Read-only: it never writes the store, and keeps answering while 'trials
    refresh' or 'trials import' writes.  Every page has a JSON twin (add
    .json to the path, or send Accept: application/json) carrying what the
    matching 'trials ... --json' prints.  Stop it with Ctrl-C.
    \b
    Examples:
      trials serve
      trials serve --port 8080 --open
    """
    import uvicorn

    from trialscope.web.server import create_app

    home = command_home(ctx)
    _check_port(host, port)
    if not _loopback(host):
        click.echo(f"Warning: listening on {host}: anyone who can reach this machine on port "
                   f"{port} can read the trials in {home.root}.", err=True)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    click.echo(f"Serving {home.root} at {url} (Ctrl-C to stop)", err=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(create_app(home), host=host, port=port, log_level="warning",
                access_log=False)
