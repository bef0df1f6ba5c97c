"""Shared by the `trials serve` tests: a data home holding the demo trials and one hostile
record, the CLI's --json for the same call, and a server on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.conftest import FIXTURES
from trialscope.cli.main import cli

STUDIES = FIXTURES / "ctgov" / "studies"
HOSTILE_ID = "NCT09999991"
SCRIPT = "<script>alert('x')</script>"


def hostile_study() -> dict[str, Any]:
    """The reference trial with markup in its title, criteria and sponsor."""
    study = copy.deepcopy(json.loads((STUDIES / "NCT06958939.json").read_text("utf-8")))
    p = study["protocolSection"]
    p["identificationModule"]["nctId"] = HOSTILE_ID
    p["identificationModule"]["briefTitle"] = f"Hostile {SCRIPT} trial <b>bold</b>"
    p["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = f"Evil {SCRIPT} Inc"
    p["eligibilityModule"]["eligibilityCriteria"] = (
        f"Inclusion Criteria:\n\n1. Age ≥18 years {SCRIPT};\n2. MG-ADL score ≥ 6\n\n"
        f"Exclusion Criteria:\n\n1. <img src=x onerror=alert(1)> pregnancy\n")
    return study


def run_cli(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    return result


def cli_json(home: Path, *args: str) -> Any:
    result = run_cli(home, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def build_home(home: Path, studies: list[Path] | None = None, hostile: bool = True) -> Path:
    paths = [str(p) for p in (studies or sorted(STUDIES.glob("*.json")))]
    if hostile:
        extra = home.parent / f"{home.name}-hostile.json"
        extra.write_text(json.dumps(hostile_study()), encoding="utf-8")
        paths.append(str(extra))
    result = run_cli(home, "import", "--no-progress", *paths)
    assert result.exit_code == 0, result.output
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(home: Path) -> Iterator[str]:
    """`trials serve`'s app under uvicorn in a thread, on a free 127.0.0.1 port."""
    import uvicorn

    from trialscope.store.home import DataHome
    from trialscope.web.server import create_app

    port = free_port()
    config = uvicorn.Config(create_app(DataHome.resolve(str(home))), host="127.0.0.1",
                            port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
