"""`trials serve`: pages through the ASGI test client (HTML read with BeautifulSoup), JSON
twins equal to the CLI's --json, escaping, errors, and a writer running while pages answer."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from starlette.testclient import TestClient

from tests.serve_helpers import HOSTILE_ID, SCRIPT, STUDIES, build_home, cli_json, run_cli
from trialscope.store.home import DataHome
from trialscope.web.server import create_app


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("serve") / "home")


@pytest.fixture(scope="module")
def client(home: Path) -> TestClient:
    with TestClient(create_app(DataHome.resolve(str(home)))) as c:
        yield c


def soup(response: Any) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


# -- search ---------------------------------------------------------------------------------
def test_search_page_lists_results_with_highlights_facets_and_links(client: TestClient) -> None:
    r = client.get("/search", params={"q": "myasthenia gravis CAR-T"})
    assert r.status_code == 200
    page = soup(r)
    total = int(page.select_one("#result-count").get_text())
    hits = page.select("li.hit")
    assert total >= len(hits) > 0
    assert all(h.select_one("a.trial-link")["href"].startswith("/trial/") for h in hits)
    assert page.select("p.snippet mark"), "matched terms are marked"
    assert "«" not in page.select_one("ol.results").get_text()
    facet_links = page.select("aside.facets a")
    assert facet_links
    assert page.select_one("#json-link")["href"].startswith("/search.json?")
    assert page.select_one("#csv-link")["href"].startswith("/search.csv?")


def test_a_facet_link_narrows_the_results(client: TestClient) -> None:
    page = soup(client.get("/search", params={"q": "myasthenia"}))
    total = int(page.select_one("#result-count").get_text())
    link = next(a for a in page.select("aside.facets a") if "status=" in a["href"])
    count = int(link.find_next_sibling("span").get_text().strip("()"))
    narrowed = soup(client.get(link["href"]))
    assert int(narrowed.select_one("#result-count").get_text()) == count <= total
    active = narrowed.select_one("aside.facets a.active")
    assert active is not None and "status=" not in active["href"].split("?", 1)[1].replace(
        "q=", "")  # following an active facet removes it


def test_pagination_and_parsed_query_on_request(client: TestClient) -> None:
    page = soup(client.get("/search", params={"q": "myasthenia", "limit": "2"}))
    assert len(page.select("li.hit")) == 2
    nxt = page.select_one("a[rel=next]")
    assert nxt is not None and "offset=2" in nxt["href"]
    second = soup(client.get(nxt["href"]))
    assert second.select_one("ol.results")["start"] == "3"
    assert second.select_one("a[rel=prev]") is not None
    assert page.select_one("#parsed-query") is None
    shown = soup(client.get(page.select_one("#show-query")["href"]))
    assert "myasthenia" in shown.select_one("#parsed-query").get_text()


@pytest.mark.parametrize("params,args", [
    ({"q": "myasthenia gravis CAR-T"}, ["myasthenia gravis CAR-T"]),
    ({"q": "myasthenia", "status": ["open", "completed"], "phase": "phase 2", "limit": "3",
      "offset": "1"},
     ["myasthenia", "--status", "open", "--status", "completed", "--phase", "phase 2",
      "--limit", "3", "--offset", "1"]),
    ({"q": "", "modality": "car-t", "start-from": "2019", "min-enrollment": "10"},
     ["", "--modality", "car-t", "--start-from", "2019", "--min-enrollment", "10"]),
    ({"q": "myasthenia", "patient-age": "70", "where": "MG-ADL=7", "has-results": "no",
      "explain": "1"},
     ["myasthenia", "--patient-age", "70", "--where", "MG-ADL=7", "--no-results",
      "--explain"]),
])
def test_search_json_twin_equals_the_cli(client: TestClient, home: Path, params: dict,
                                         args: list[str]) -> None:
    twin = client.get("/search.json", params=params)
    assert twin.status_code == 200
    assert twin.headers["content-type"].startswith("application/json")
    assert twin.json() == cli_json(home, "search", *args)
    accept = client.get("/search", params=params, headers={"Accept": "application/json"})
    assert accept.json() == twin.json()


def test_search_csv_is_the_export(client: TestClient, home: Path) -> None:
    r = client.get("/search.csv", params={"q": "myasthenia", "status": "recruiting"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    result = run_cli(home, "export", "myasthenia", "--status", "recruiting", "--format", "csv")
    assert r.text == result.stdout


# -- trial ----------------------------------------------------------------------------------
def test_trial_page_shows_the_card(client: TestClient) -> None:
    page = soup(client.get("/trial/NCT06958939"))
    assert page.select_one("#trial-id").get_text() == "NCT06958939"
    text = page.get_text(" ")
    for part in ("Status", "Arms", "Interventions", "Eligibility", "Inclusion", "Exclusion",
                 "Related trials", "Version history", "Locations"):
        assert part in text
    assert page.select(".tree .limit"), "extracted limits are marked in the criteria tree"
    assert page.select_one("#registry-link")["href"].startswith("https://clinicaltrials.gov/")
    related = page.select("a.related-link")
    assert related and page.select(".shared")
    assert page.select_one("ol.history li") is not None


def test_trial_json_twins_equal_the_cli(client: TestClient, home: Path) -> None:
    assert client.get("/trial/NCT06958939.json").json() == cli_json(home, "show", "NCT06958939")
    accept = client.get("/trial/NCT06958939", headers={"Accept": "application/json"})
    assert accept.json() == cli_json(home, "show", "NCT06958939")
    assert client.get("/trial/NCT06958939/related.json").json() == \
        cli_json(home, "related", "NCT06958939")
    assert client.get("/trial/NCT06958939/history.json").json() == \
        cli_json(home, "history", "NCT06958939")


def test_trial_page_shows_the_field_level_history(tmp_path: Path) -> None:
    ref = STUDIES / "NCT06958939.json"
    home = build_home(tmp_path / "home", [ref], hostile=False)
    study = json.loads(ref.read_text("utf-8"))
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "RECRUITING"
    status["lastUpdatePostDateStruct"] = {"date": "2025-07-01", "type": "ACTUAL"}
    (tmp_path / "v2.json").write_text(json.dumps(study), encoding="utf-8")
    assert run_cli(home, "import", "--no-progress", str(tmp_path / "v2.json")).exit_code == 0
    with TestClient(create_app(DataHome.resolve(str(home)))) as c:
        page = soup(c.get("/trial/NCT06958939"))
        versions = page.select("ol.history > li")
        assert len(versions) == 2
        diff = " ".join(versions[1].select_one("ul.diff").get_text(" ").split())
        assert "status : NOT_YET_RECRUITING → RECRUITING" in diff
        assert c.get("/trial/NCT06958939/history.json").json() == \
            cli_json(home, "history", "NCT06958939")


def test_changes_page_and_twin(client: TestClient, home: Path) -> None:
    twin = client.get("/changes.json", params={"since": "2000-01-01"}).json()
    assert twin == cli_json(home, "changes", "--since", "2000-01-01")
    page = soup(client.get("/changes", params={"since": "2000-01-01"}))
    assert len(page.select("tbody tr")) == len(twin) > 0


def test_changes_per_watch_and_nothing_written(tmp_path: Path) -> None:
    import sqlite3

    home = build_home(tmp_path / "home", [STUDIES / "NCT06958939.json"], hostile=False)

    def schema() -> list[str]:
        conn = sqlite3.connect(home / "store.sqlite")
        try:
            return sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master"))
        finally:
            conn.close()

    before = schema()
    with TestClient(create_app(DataHome.resolve(str(home)))) as c:
        assert c.get("/changes").status_code == 200
        r = c.get("/changes", params={"since": "2000-01-01", "watch": "mine"})
        cli = run_cli(home, "changes", "--since", "2000-01-01", "--watch", "mine", "--json")
        assert schema() == before  # the page read the store; it wrote nothing
        assert r.status_code == 400 and cli.exit_code != 0
        expected = json.loads(cli.stdout)["error"]
        assert soup(r).select_one("#error-message").get_text() == f"Error: {expected['message']}"
        assert run_cli(home, "watch", "add", "mine", "--id", "NCT06958939").exit_code == 0
        page = soup(c.get("/changes", params={"since": "2000-01-01"}))
        assert "mine" in [o.get_text() for o in page.select("#watch option")]
        twin = c.get("/changes.json", params={"since": "2000-01-01", "watch": "mine"})
        assert twin.json() == cli_json(home, "changes", "--since", "2000-01-01", "--watch",
                                       "mine")


# -- safety ---------------------------------------------------------------------------------
def test_hostile_record_text_is_escaped(client: TestClient) -> None:
    for r in (client.get(f"/trial/{HOSTILE_ID}"),
              client.get("/search", params={"q": "hostile"}),
              client.get("/search", params={"q": "", "sponsor": f"Evil {SCRIPT} Inc"})):
        assert r.status_code == 200
        assert "<script>" not in r.text and "<img" not in r.text and "<b>bold" not in r.text
        page = soup(r)
        assert not page.find("script") and not page.find("img") and not page.find("b")
    page = soup(client.get(f"/trial/{HOSTILE_ID}"))
    assert SCRIPT in page.select_one("#trial-title").get_text()
    assert SCRIPT in page.get_text()  # the sponsor and the criteria, shown as text
    assert "<img src=x onerror=alert(1)>" in page.select_one("#exclusion").get_text()
    hits = soup(client.get("/search", params={"q": "hostile"})).select("li.hit h3")
    assert any(SCRIPT in h.get_text() for h in hits)


@pytest.mark.parametrize("params,cli_args", [
    ({"q": "x", "status": "bogus"}, ["x", "--status", "bogus"]),
    ({"q": 'title:"unclosed'}, ['title:"unclosed']),
    ({"q": "x", "where": "nonsense"}, ["x", "--where", "nonsense"]),
])
def test_bad_parameters_give_400_with_the_cli_message(client: TestClient, home: Path,
                                                      params: dict, cli_args: list[str]) -> None:
    cli = run_cli(home, "search", *cli_args, "--json")
    assert cli.exit_code == 1
    expected = json.loads(cli.stdout)["error"]
    r = client.get("/search", params=params)
    assert r.status_code == 400
    page = soup(r)
    assert page.select_one("#error-message").get_text() == f"Error: {expected['message']}"
    if expected["hint"]:
        assert page.select_one("#error-hint").get_text() == expected["hint"]
    assert "Traceback" not in r.text
    twin = client.get("/search.json", params=params)
    assert twin.status_code == 400 and twin.json() == {"error": expected}


@pytest.mark.parametrize("url", ["/search?limit=abc", "/search?limit=0", "/search?offset=-1",
                                 "/search?min-enrollment=x", "/search?sex=other",
                                 "/search?has-results=maybe", "/search?patient-age=200",
                                 "/search?nonsense=1", "/trial/bad!id", "/changes?since=soon"])
def test_other_bad_parameters_are_400_never_a_traceback(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 400, r.text
    assert soup(r).select_one("#error-message").get_text().startswith("Error: ")
    assert "Traceback" not in r.text


def test_unknown_trial_is_404_with_a_fetch_hint(client: TestClient) -> None:
    r = client.get("/trial/NCT09999990")
    assert r.status_code == 404
    assert "trials crawl --id NCT09999990" in soup(r).select_one("#error-hint").get_text()
    twin = client.get("/trial/NCT09999990.json")
    assert twin.status_code == 404 and twin.json()["error"]["code"] == "not_found"
    assert client.get("/no/such/page").status_code == 404


def test_an_empty_home_says_how_to_fill_it(tmp_path: Path) -> None:
    with TestClient(create_app(DataHome.resolve(str(tmp_path / "empty")))) as c:
        r = c.get("/search", params={"q": "x"})
    assert r.status_code == 503
    assert "trials crawl --offline" in r.text
    assert not (tmp_path / "empty" / "store.sqlite").exists()  # read-only: nothing created


def test_a_file_that_is_not_a_store_is_a_store_error_not_a_500(tmp_path: Path) -> None:
    home = DataHome.resolve(str(tmp_path / "bad"))
    home.store_path.parent.mkdir(parents=True)
    home.store_path.write_bytes(b"not a database at all" * 100)
    with TestClient(create_app(home)) as c:
        r = c.get("/trial/NCT01234567")
        twin = c.get("/trial/NCT01234567.json")
    assert r.status_code == 503, r.text
    assert "is not a usable trialscope store" in soup(r).select_one("#error-message").get_text()
    assert "Traceback" not in r.text
    assert twin.status_code == 503 and twin.json()["error"]["code"] == "store_error"


def test_every_control_has_a_label(client: TestClient) -> None:
    for url in ("/search?q=myasthenia", "/changes"):
        page = soup(client.get(url))
        controls = page.select("input, select, textarea")
        assert controls
        labelled = {lab["for"] for lab in page.select("label[for]")}
        assert all(c.get("id") in labelled for c in controls), url


@pytest.mark.parametrize("command", ["import", "refresh"])
def test_a_writer_runs_while_pages_answer(tmp_path: Path, command: str) -> None:
    """An import of saved files, or a scheduled refresh fetching from the registry (the mock
    API on 127.0.0.1), writes the home while the page answers: nothing fails, the new trials
    appear once the writer commits."""
    from tests.mockserver import MockServer, cli_env

    studies = sorted(STUDIES.glob("*.json"))
    home = build_home(tmp_path / "home", studies[:8], hostile=False)
    late = studies[-1].stem
    log = tmp_path / "writer.log"
    with MockServer() as mock, log.open("wb") as err:
        if command == "import":
            argv, env = ["import", "--no-progress", *map(str, studies[8:])], None
        else:
            assert run_cli(home, "watch", "add", "late", "--id",
                           ",".join(p.stem for p in studies[8:])).exit_code == 0
            argv, env = ["refresh", "--no-progress"], cli_env(mock.url)
        writer = subprocess.Popen(
            [sys.executable, "-m", "trialscope.cli", "--home", str(home), *argv],
            stdout=subprocess.DEVNULL, stderr=err, env=env)
        _pages_answer_while(writer, home, late, log)


def _pages_answer_while(writer: subprocess.Popen[bytes], home: Path, late: str,
                        log: Path) -> None:
    studies = sorted(STUDIES.glob("*.json"))
    failures: list[str] = []
    answered = 0
    done = threading.Event()

    def wait() -> None:
        writer.wait(timeout=120)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    with TestClient(create_app(DataHome.resolve(str(home)))) as c:
        while True:
            finished = done.is_set()
            for url in ("/search?q=myasthenia", "/search.json?q=trial&status=open",
                        f"/trial/{studies[0].stem}", "/changes.json?since=2000-01-01"):
                r = c.get(url)
                answered += 1
                if r.status_code != 200:
                    failures.append(f"{url}: {r.status_code} {r.text[:300]}")
            if finished:
                break
        assert writer.returncode == 0, log.read_text()
        assert not failures, failures
        assert answered >= 4
        assert c.get(f"/trial/{late}").status_code == 200  # the writer's data appears
        ids = {h["trial_id"] for h in c.get("/search.json", params={
            "q": "", "limit": "100"}).json()["results"]}
        assert late in ids


def test_related_trials_are_recomputed_after_a_write(tmp_path: Path) -> None:
    from trialscope.web.server import RelatedCache

    studies = sorted(STUDIES.glob("*.json"))
    ref = STUDIES / "NCT06958939.json"
    first = [p for p in studies if p != ref][:5] + [ref]
    home = build_home(tmp_path / "home", first, hostile=False)
    cache = RelatedCache(DataHome.resolve(str(home)))
    before = {h.trial_id for h in cache.get("NCT06958939").hits}
    assert cache.get("NCT06958939") is cache.get("NCT06958939")  # kept while nothing changes
    assert run_cli(home, "import", "--no-progress", *map(str, studies)).exit_code == 0
    after = {h.trial_id for h in cache.get("NCT06958939").hits}
    assert after == {r["trial_id"] for r in cli_json(home, "related", "NCT06958939")["results"]}
    assert after != before


# -- the command ----------------------------------------------------------------------------
def test_serve_binds_localhost_and_warns_for_other_hosts(home: Path, monkeypatch: Any) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    quiet = run_cli(home, "serve", "--port", "8123")
    assert quiet.exit_code == 0, quiet.output
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["port"] == 8123
    assert "Warning" not in quiet.stderr
    loud = run_cli(home, "serve", "--host", "0.0.0.0")
    assert loud.exit_code == 0
    assert calls[-1]["host"] == "0.0.0.0"
    assert "Warning: listening on 0.0.0.0" in loud.stderr


def test_serve_on_a_busy_port_is_an_error_line(home: Path, monkeypatch: Any) -> None:
    import socket

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("must not start"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(home, "serve", "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Cannot listen on 127.0.0.1:{port}")
    assert "--port" in result.stderr


def test_the_page_never_writes_the_store(tmp_path: Path) -> None:
    """Reading through the page (a trial's card refreshes cross-registry links when a CLI
    read does it) leaves the store file's content as it was: the page opens it read-only."""
    import hashlib
    import sqlite3

    studies = sorted(STUDIES.glob("*.json"))
    home = build_home(tmp_path / "home", studies[:4], hostile=False)
    store = home / "store.sqlite"

    conn = sqlite3.connect(store)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("DELETE FROM meta WHERE key = 'links_stamp'")  # links look stale
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    def digest() -> str:
        wal = store.with_name(store.name + "-wal")
        return hashlib.sha256(store.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
                              ).hexdigest()

    before = digest()
    with TestClient(create_app(DataHome.resolve(str(home)))) as c:
        for p in studies[:4]:
            assert c.get(f"/trial/{p.stem}").status_code == 200
            assert c.get(f"/trial/{p.stem}.json").status_code == 200
        assert c.get("/search", params={"q": "myasthenia"}).status_code == 200
    assert digest() == before
