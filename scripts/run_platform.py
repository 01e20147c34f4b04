"""Start the whole platform on embedded defaults and stop all of it on Ctrl-C (`make run`).

Prepares the database, static files and demo data, then runs the local chain (anvil, when
installed, with the AtelierWorks contract deployed once and kept in its state), a Celery worker
for each queue (default, gpu, chain) on the filesystem broker, and gunicorn serving the site.
Output of the web server and the workers is shown with a prefix; the chain logs to
var/log/chain.log. If any part exits, the rest are stopped and the exit status says so.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
_PR_SET_PDEATHSIG = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything until Ctrl-C (exit 0) or until one part dies (exit 1)."""
    args = _parse(argv)
    env = _environment(args)
    var_dir = Path(env["ATELIER_VAR_DIR"])
    (var_dir / "log").mkdir(parents=True, exist_ok=True)
    _require_free_port(args.host, args.port, "PORT")

    for step in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        print(f"setup | manage.py {' '.join(step)}", flush=True)
        subprocess.run([PYTHON, "manage.py", *step], cwd=REPO, env=env, check=True)
    demo = subprocess.run(
        [PYTHON, "manage.py", "load_demo_data"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    demo_logins = demo.stdout.strip().splitlines()[-1]
    subprocess.run(
        [PYTHON, "manage.py", "load_studio_demo", "--steps", str(args.demo_steps)],
        cwd=REPO,
        env=env,
        check=True,
    )
    subprocess.run([PYTHON, "manage.py", "load_insights_demo"], cwd=REPO, env=env, check=True)

    parts: dict[str, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if ANVIL.exists():
            _require_free_port("127.0.0.1", args.chain_port, "CHAIN_PORT")
            chain_log = (var_dir / "log" / "chain.log").open("ab")
            parts["anvil"] = _start(
                [
                    str(ANVIL),
                    "--port",
                    str(args.chain_port),
                    "--chain-id",
                    env["CHAIN_ID"],
                    "--state",
                    str(var_dir / "chain" / "state.json"),
                    "--quiet",
                ],
                env,
                output=chain_log,
            )
            _wait_for_port("127.0.0.1", args.chain_port, parts["anvil"], "anvil")
            env.update(_deploy_contract(env, var_dir / "chain"))
            subprocess.run(
                [PYTHON, "manage.py", "load_registry_demo"], cwd=REPO, env=env, check=True
            )
        # One worker per queue, as in production: a long training run on `gpu` never holds
        # up the short jobs on `default`, and `chain` has one worker per signing key.
        for queue in ("default", "gpu", "chain"):
            parts[queue] = _start(
                [
                    str(BIN / "celery"),
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    queue,
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"{queue}@%h",
                ],
                env,
                prefix=queue,
            )
        parts["web"] = _start(
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "--pythonpath",
                "platform",
                "--bind",
                f"{args.host}:{args.port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
                "--no-control-socket",  # one per user by default: two instances would collide
            ],
            env,
            prefix="web",
        )
        _wait_for_port(args.host, args.port, parts["web"], "web")
        _announce(args, env, demo_logins)
        while not stopping.is_set():
            for name, process in parts.items():
                if process.poll() is not None:
                    print(f"run   | {name} exited with status {process.returncode}; stopping.")
                    return 1
            stopping.wait(0.5)
        print("\nrun   | stopping…", flush=True)
        return 0
    except (OSError, RuntimeError) as error:
        print(f"run   | {error}", file=sys.stderr)
        return 1
    finally:
        _stop_all(parts)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
    parser.add_argument("--chain-port", default=os.environ.get("CHAIN_PORT", "8545"))
    parser.add_argument(
        "--demo-steps", type=int, default=400, help="length of the demo artist's training run"
    )
    args = parser.parse_args(argv)
    for name in ("port", "chain_port"):
        raw = getattr(args, name)
        if not str(raw).isdigit() or not 1 <= int(raw) <= 65535:
            parser.error(f"{name.upper()}={raw!r} is not a port number (1 to 65535).")
        setattr(args, name, int(raw))
    return args


def _environment(args: argparse.Namespace) -> dict[str, str]:
    """The children's environment: development defaults unless the caller set otherwise."""
    env = dict(os.environ)
    env.setdefault("DJANGO_ENV", "development")
    env.setdefault("ATELIER_VAR_DIR", str(REPO / "var"))
    env.setdefault("CHAIN_ID", "31337")
    # Every worker on this machine is ours: a job still "running" when we start was orphaned by
    # the last stop (a training run killed after 15 s, say) and is sent again to resume.
    env.setdefault("JOB_STALE_AFTER_SECONDS", "5")
    if ANVIL.exists():
        env.setdefault("CHAIN_RPC_URL", f"http://127.0.0.1:{args.chain_port}")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "platform"), env.get("PYTHONPATH")])
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _deploy_contract(env: dict[str, str], folder: Path) -> dict[str, str]:
    """Deploy AtelierWorks on the local chain unless its state already holds it; its settings."""
    from provenance.chain import Chain
    from provenance.errors import ProvenanceError
    from provenance.keys import Signer
    from provenance.node import ANVIL_DEV_KEY

    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "signer.key"
    if not key_file.exists():
        key_file.write_text(ANVIL_DEV_KEY + "\n")
        key_file.chmod(0o600)
    record = folder / "deployment.json"
    chain = Chain.connect(env["CHAIN_RPC_URL"])
    address = None
    if record.exists():
        address = json.loads(record.read_text()).get("contract")
        try:
            chain.use_contract(address)
        except ProvenanceError:
            address = None  # the chain's state was reset: deploy again
    if address is None:
        address = chain.deploy(Signer.from_key_dangerously(ANVIL_DEV_KEY))
        record.write_text(json.dumps({"chain_id": chain.chain_id, "contract": address}) + "\n")
        print(f"setup | deployed AtelierWorks at {address}", flush=True)
    return {"CHAIN_CONTRACT_ADDRESS": address, "CHAIN_SIGNER_KEY_FILE": str(key_file)}


def _start(
    command: list[str],
    env: dict[str, str],
    *,
    prefix: str | None = None,
    output: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a part in its own session (Ctrl-C reaches only us); it dies if we die."""
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE if prefix else output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    if prefix:
        threading.Thread(target=_relay, args=(process, prefix), daemon=True).start()
    return process


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to the child when the launcher dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _relay(process: subprocess.Popen[bytes], prefix: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(f"{prefix:<6}| {line.decode(errors='replace')}")
        sys.stdout.flush()


def _stop_all(parts: dict[str, subprocess.Popen[bytes]]) -> None:
    """Stop every part: web first, anvil last (it saves its state on the way out).

    SIGTERM goes to each part's main process, which shuts its own children down cleanly (gunicorn's
    and Celery's workers finish their request or task); whatever is left of its process group after
    that, or after 15 s, is killed.
    """
    for name in reversed(list(parts)):
        process = parts[name]
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"run   | {name} did not stop in 15 s; killing it.")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _require_free_port(host: str, port: int, variable: str) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise SystemExit(
                f"{variable}={port} is already in use on {host}; choose another, e.g. "
                f"`make run {variable}={port + 1}`."
            ) from None


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} while starting.")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not open port {port} within 60 s.")


def _announce(args: argparse.Namespace, env: dict[str, str], demo_logins: str) -> None:
    url = (
        f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}/"  # noqa: S104
    )
    lines = [
        "",
        f"Atelier is running at {url}",
        f"  API docs:  {url}api/docs/    health: {url}healthz",
        f"  {demo_logins}",
        f"  Chain:     {env.get('CHAIN_RPC_URL', 'not started (run npm ci to install anvil)')}",
        f"  Contract:  {env.get('CHAIN_CONTRACT_ADDRESS', 'none')} (AtelierWorks)",
        "  Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
