"""`make run`'s launcher on a fresh var folder: it serves the site with demo users, runs tasks on
its worker, answers health for the database, broker and chain, and stops everything on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from provenance.chain import Chain
from tests.helpers import REPO, child_env, free_port, port_open, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.chain]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a local URL)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_run_command_serves_everything_and_stops_it_all_on_ctrl_c(tmp_path: Path) -> None:
    demo_paintings = REPO.parent / "shared" / "data" / "paintings" / "katsushika_hokusai"
    if not demo_paintings.is_dir():
        pytest.fail(f"the shared paintings are missing: expected {demo_paintings} (the demo)")
    port, chain_port = free_port(), free_port()
    env = child_env(DJANGO_ENV="development", ATELIER_VAR_DIR=str(tmp_path / "var"))
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CHAIN_RPC_URL"):
        env.pop(name, None)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        launcher = subprocess.Popen(
            [
                sys.executable,
                "scripts/run_platform.py",
                "--port",
                str(port),
                "--chain-port",
                str(chain_port),
                "--demo-steps",
                "20",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "Atelier is running" in log_path.read_text() or launcher.poll() is not None,
            timeout=180,
            what="the platform to start",
            interval=0.5,
        )
        output = log_path.read_text()
        assert launcher.poll() is None, output
        assert f"http://localhost:{port}/" in output
        assert "Demo logins: artist, analyst, gallery, staff (password: atelier-demo)" in output

        status, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200, body
        assert json.loads(body)["checks"]["chain"]["detail"] == "chain id 31337"
        assert _get(f"http://127.0.0.1:{port}/static/core/site.css")[0] == 200
        assert len(_processes_with(env["ATELIER_VAR_DIR"])) >= 5  # web, three workers, chain
        # The contract is deployed and the demo artist's certified print gets minted.
        deployment = json.loads((tmp_path / "var" / "chain" / "deployment.json").read_text())
        chain = Chain.connect(f"http://127.0.0.1:{chain_port}", deployment["contract"])
        wait_until(
            lambda: chain.contract.functions.totalMinted().call() == 1,
            timeout=120,
            what="the demo certificate's token",
            interval=1,
        )
        assert b"Sign in" in _get(f"http://127.0.0.1:{port}/accounts/login/")[1]

        selftest = subprocess.run(
            [sys.executable, "manage.py", "selftest", "--timeout", "240"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=270,  # queued behind the demo's price-model fit on `default`
        )
        assert selftest.returncode == 0, selftest.stderr
        assert "Worker self-test passed." in selftest.stdout
        assert "100%" in selftest.stderr  # the command-line progress bar reached the end

        # The demo artist's portfolio trains on the gpu worker, then its works appear.
        works = tmp_path / "var" / "media" / "studio" / "works"
        wait_until(
            lambda: len(list(works.rglob("*.png"))) == 16,
            timeout=240,
            what="the demo model's 16 works",
            interval=1,
        )
        # The demo analyst's CryptoPunks sales are imported and their model is fitted on `default`.
        database = tmp_path / "var" / "atelier.sqlite3"
        wait_until(
            lambda: _query(database, "SELECT state FROM insights_pricemodel") == [("ready",)],
            timeout=240,
            what="the demo price model to be fitted",
            interval=1,
        )
        assert _query(database, "SELECT COUNT(*) FROM insights_sale")[0][0] > 17_000
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            raise

    output = log_path.read_text()
    assert launcher.returncode == 0, output
    assert "Warm shutdown" in output  # the worker finished cleanly, not killed mid-task
    assert "exited with 'signal" not in output
    assert not port_open(port)
    assert not port_open(chain_port)
    wait_until(
        lambda: not _processes_with(env["ATELIER_VAR_DIR"]),
        timeout=10,
        what="no part to outlive the launcher",
    )


def _query(database: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a read-only query on the launcher's SQLite database."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return list(db.execute(sql).fetchall())


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment mentions `marker` (every part the launcher started has it)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
