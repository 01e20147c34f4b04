"""A local EVM node (anvil) run as a managed child process, its chain kept in a state file."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self, TextIO

from web3 import HTTPProvider, Web3

from provenance.errors import ChainUnavailable, NodeError
from provenance.rpc import chain_id as rpc_chain_id

ANVIL_CHAIN_ID = 31337
# The key of anvil's first dev account (mnemonic "test test ... junk"): public knowledge, funded
# with 10,000 ether at genesis; for local chains and tests only.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
_PR_SET_PDEATHSIG = 1
_STDERR_LINES = 40
_START_ATTEMPTS = 3  # a port picked free can be taken before anvil binds it
_NPM_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def find_anvil(project_root: Path | None = None) -> Path:
    """The anvil executable: the project's npm install first, then `anvil` on PATH."""
    if project_root is not None:
        native = _npm_native_binary(project_root)
        if native is not None:
            return native
        wrapper = project_root / "node_modules" / ".bin" / "anvil"
        if wrapper.exists():
            return wrapper
    on_path = shutil.which("anvil")
    if on_path is not None:
        return Path(on_path)
    where = f" in {project_root / 'node_modules'} or" if project_root is not None else ""
    raise NodeError(f"anvil not found{where} on PATH; install it with `npm ci` (or foundryup)")


def _npm_native_binary(project_root: Path) -> Path | None:
    """The platform binary behind npm's `.bin/anvil` wrapper (signals then reach anvil itself)."""
    arch = _NPM_ARCH.get(platform.machine().lower())
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    if arch is None or system is None:
        return None
    binary = (
        project_root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    )
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def _free_port(host: str) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the thread that started it dies, however it dies.

    SIGTERM and SIGINT go back to their defaults first: a launcher started in the background
    (nohup, `&` in a script) inherits them ignored, and anvil must still stop and save its state.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class AnvilNode:
    """anvil as a child process in its own process group; a context manager that runs it.

    With `state_path` the chain survives restarts: anvil loads the file at start, saves it every
    `state_interval_s` seconds and on SIGTERM/SIGINT (which `stop` sends). On Linux anvil is killed
    when the thread that started it exits, so start it from a thread that lives as long as it.
    Options passed on the command line (a mnemonic included) are visible to local users in `ps`.
    """

    def __init__(
        self,
        *,
        binary: str | Path | None = None,
        project_root: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        chain_id: int = ANVIL_CHAIN_ID,
        state_path: Path | None = None,
        state_interval_s: int = 5,
        block_time_s: float | None = None,
        no_mining: bool = False,
        mnemonic: str | None = None,
        accounts: int | None = None,
        balance_ether: int | None = None,
        extra_args: Sequence[str] = (),
        start_timeout_s: float = 30.0,
    ) -> None:
        self.binary = binary
        self.project_root = project_root
        self.host = host
        self.port = port
        self.chain_id = chain_id
        self.state_path = state_path
        self.state_interval_s = state_interval_s
        self.block_time_s = block_time_s
        self.no_mining = no_mining
        self.mnemonic = mnemonic
        self.accounts = accounts
        self.balance_ether = balance_ether
        self.extra_args = tuple(extra_args)
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._stderr_reader: threading.Thread | None = None

    @property
    def rpc_url(self) -> str:
        """The node's HTTP JSON-RPC URL (the port is known once the node has started)."""
        if self.port == 0:
            raise NodeError("the node has no port yet: start it first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the anvil process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of anvil (also its process group id), or None when not started."""
        return None if self._process is None else self._process.pid

    def stderr_tail(self) -> str:
        """anvil's last lines of standard error (it writes its errors there)."""
        return "\n".join(self._stderr)

    def command(self, port: int) -> list[str]:
        """The command line that starts anvil on `port`."""
        binary = Path(self.binary) if self.binary is not None else find_anvil(self.project_root)
        command = [str(binary), "--host", self.host, "--port", str(port)]
        command += ["--chain-id", str(self.chain_id), "--quiet"]
        if self.state_path is not None:
            command += ["--state", str(self.state_path)]
            command += ["--state-interval", str(self.state_interval_s)]
        if self.no_mining:
            command.append("--no-mining")
        elif self.block_time_s is not None:
            command += ["--block-time", f"{self.block_time_s:g}"]
        if self.mnemonic is not None:
            command += ["--mnemonic", self.mnemonic]
        if self.accounts is not None:
            command += ["--accounts", str(self.accounts)]
        if self.balance_ether is not None:
            command += ["--balance", str(self.balance_ether)]
        return command + list(self.extra_args)

    def start(self) -> None:
        """Start anvil, wait until it answers eth_chainId; a stopped node restarts on its port."""
        if self.running:
            raise NodeError(f"anvil is already running at {self.rpc_url} (pid {self.pid})")
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
        pick_port = self.port == 0
        if not pick_port and _listening(self.host, self.port):
            raise NodeError(
                f"something already listens on {self.host}:{self.port} (address already in use); "
                "stop it or choose another port (port=0 picks a free one)"
            )
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = _free_port(self.host) if pick_port else self.port
            self._spawn(port)
            try:
                self._wait_until_ready(port)
            except NodeError:
                exited = self._process is not None and self._process.poll() is not None
                self.stop()
                port_taken = exited and "in use" in self.stderr_tail().lower()
                if pick_port and port_taken and attempt < _START_ATTEMPTS:
                    continue
                raise
            self.port = port
            return

    def _spawn(self, port: int) -> None:
        """Launch the process in a new session (its own process group), stderr into a buffer."""
        command = self.command(port)
        self._stderr.clear()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # without --quiet anvil prints the dev keys there
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as error:
            raise NodeError(f"cannot run {command[0]}: {error}") from error
        assert self._process.stderr is not None
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, args=(self._process.stderr,), daemon=True
        )
        self._stderr_reader.start()

    def _read_stderr(self, stream: IO[bytes]) -> None:
        """Keep anvil's last stderr lines (drained so it never blocks on a full pipe)."""
        for line in stream:
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _wait_until_ready(self, port: int) -> None:
        """Poll eth_chainId until anvil answers with the expected chain id."""
        url = f"http://{self.host}:{port}"
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                if self._stderr_reader is not None:
                    self._stderr_reader.join(timeout=2)
                raise NodeError(
                    f"anvil exited with code {self._process.returncode} at start "
                    f"({url}); its last output:\n{self.stderr_tail() or '(none)'}"
                )
            try:
                served = rpc_chain_id(url, timeout=1.0)
            except ChainUnavailable:
                served = None
            if served is not None and self._process.poll() is None:
                if served != self.chain_id:
                    raise NodeError(
                        f"anvil at {url} serves chain id {served}, not {self.chain_id}; "
                        "is another node on that port?"
                    )
                return
            if time.monotonic() >= deadline:
                raise NodeError(
                    f"anvil did not answer at {url} within {self.start_timeout_s:g} s; "
                    f"its last output:\n{self.stderr_tail() or '(none)'}"
                )
            time.sleep(0.05)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the whole process group (anvil saves its state), wait; SIGKILL if it lingers."""
        process = self._process
        if process is None:
            return
        group = process.pid
        _signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            process.wait()
        _wait_for_group(group, timeout_s)  # a wrapper (npm's bin.mjs) exits before its anvil
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=2)
        self._process = None

    def dev_accounts(self) -> list[str]:
        """The node's unlocked dev accounts (eth_accounts), EIP-55 checksummed; never their keys."""
        web3 = Web3(HTTPProvider(self.rpc_url, request_kwargs={"timeout": 5}))
        try:
            return [Web3.to_checksum_address(address) for address in web3.eth.accounts]
        except Exception as error:
            raise ChainUnavailable(
                f"no accounts from anvil at {self.rpc_url}: {type(error).__name__}"
            ) from error

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(group: int, signum: signal.Signals) -> None:
    """Send `signum` to every process of a group that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _wait_for_group(group: int, timeout_s: float) -> None:
    """Wait until no process of the group is left; SIGKILL what remains after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    _signal_group(group, signal.SIGKILL)


def run_node(
    *,
    project_root: Path | None = None,
    binary: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8545,
    chain_id: int = ANVIL_CHAIN_ID,
    state_path: Path | None = None,
    block_time_s: float | None = None,
    out: TextIO | None = None,
) -> int:
    """Run anvil in the foreground until Ctrl-C or SIGTERM; print its URL and dev addresses."""
    out = out if out is not None else sys.stdout
    node = AnvilNode(
        binary=binary,
        project_root=project_root,
        host=host,
        port=port,
        chain_id=chain_id,
        state_path=state_path,
        block_time_s=block_time_s,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C must stop the node even when this process was started with SIGINT ignored (as
    # shells start background jobs): Python then leaves it ignored instead of raising.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with node:
            _print_banner(node, out)
            while node.running:
                time.sleep(0.5)
            print(f"anvil exited on its own; its last output:\n{node.stderr_tail()}", file=out)
            return 1
    except KeyboardInterrupt:
        saved = f"; chain saved to {state_path}" if state_path is not None else ""
        print(f"anvil stopped{saved}", file=out)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _print_banner(node: AnvilNode, out: TextIO) -> None:
    """What a person needs to use the node: URL, chain id, state file, dev account addresses."""
    print(f"anvil listening at {node.rpc_url} (chain id {node.chain_id})", file=out)
    if node.state_path is not None:
        print(
            f"state: {node.state_path} (saved every {node.state_interval_s} s and on exit)",
            file=out,
        )
    mining = (
        f"a block every {node.block_time_s:g} s"
        if node.block_time_s is not None
        else "a block for each transaction"
    )
    print(f"mining: {mining}", file=out)
    print("dev accounts (test keys: never send real funds to them):", file=out)
    for index, address in enumerate(node.dev_accounts()):
        print(f"  ({index}) {address}", file=out)
    print("Ctrl-C stops the node.", file=out, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: stop like Ctrl-C does."""
    raise KeyboardInterrupt
