"""Provenance benchmarks: certificates signed and verified per second, mints per second on anvil.

    .venv/bin/python bench/provenance_bench.py [--certificates 3000] [--mints 100]

Certificates run pinned to one core, each path beside its baselines in the same run: eth-account's
`sign_typed_data` / `encode_typed_data` + `recover_message` on its pure-Python curve backend (what a
plain install gets) and on libsecp256k1 (coincurve). Mints run on a real anvil (automine): one by
one (send, wait for the receipt, next) and pipelined through the transaction manager (send all, then
wait). Then the concurrency checks: 50 threads minting 50 works give 50 tokens and no nonce error;
10 threads minting the same work give one token. Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from provenance.certificate import (  # noqa: E402
    Certificate,
    Domain,
    Generation,
    SignedCertificate,
    sign_certificate,
    verify_certificate,
)
from provenance.chain import Chain  # noqa: E402
from provenance.errors import MintRefused, ProvenanceError, TransactionReverted  # noqa: E402
from provenance.keys import Signer  # noqa: E402
from provenance.node import ANVIL_DEV_KEY as ANVIL_KEY  # noqa: E402
from provenance.node import AnvilNode  # noqa: E402
from provenance.transactions import MemoryNonceStore, MemoryTxStore, TransactionManager  # noqa: E402

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")


def rate(work: Callable[[], object], count: int) -> float:
    """Calls per second of `work` over `count` calls (after a short warm-up)."""
    for _ in range(min(20, count)):
        work()
    started = time.perf_counter()
    for _ in range(count):
        work()
    return count / (time.perf_counter() - started)


def certificate(creator: str, domain: Domain = DOMAIN) -> Certificate:
    """A certificate with full lineage for `creator`, for fresh random content."""
    return Certificate(
        creator=creator,
        content_hash=secrets.token_bytes(32),
        generation=Generation(
            model_hash=secrets.token_bytes(32),
            dataset_hash=secrets.token_bytes(32),
            config_hash=secrets.token_bytes(32),
            seed=secrets.randbits(63),
        ),
        metadata_uri="ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        royalty_receiver=creator,
        royalty_bps=500,
        nonce=secrets.randbits(128),
        deadline=int(time.time()) + 86400,
    )


def eth_account_rates(count: int, backend: str) -> dict[str, float]:
    """eth-account's own sign and verify rates, in a child process with `backend` forced."""
    code = f"""
import json, sys, time
sys.path.insert(0, {str(REPO)!r})
from eth_account import Account
from eth_account.messages import encode_typed_data
from provenance.keys import Signer
sys.path.insert(0, {str(REPO / "bench")!r})
from provenance_bench import certificate, DOMAIN, rate
signer = Signer.create()
key = signer.account.key
typed = certificate(signer.address).typed_data(DOMAIN)
signature = Account.sign_typed_data(key, full_message=typed).signature
text = json.dumps({{"typed_data": typed, "signature": signature.to_0x_hex()}})
def verify():
    document = json.loads(text)
    message = encode_typed_data(full_message=document["typed_data"])
    assert Account.recover_message(message, signature=document["signature"]) == signer.address
print(json.dumps({{
    "sign": rate(lambda: Account.sign_typed_data(key, full_message=typed), {count}),
    "verify": rate(verify, {count}),
}}))
"""
    env = dict(os.environ, ECC_BACKEND_CLASS=backend)
    output = subprocess.run(  # noqa: S603  # our own interpreter running our own code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def certificate_rates(count: int) -> list[tuple[str, float, float]]:
    """(path, signed per second, verified per second) for ours and the two baselines."""
    signer = Signer.create()
    claim = certificate(signer.address)
    text = sign_certificate(claim, DOMAIN, signer).dumps()

    def verify() -> None:
        verdict = verify_certificate(SignedCertificate.loads(text))
        assert verdict.valid, verdict.problems

    ours = (
        "Atelier (provenance.certificate, coincurve)",
        rate(lambda: sign_certificate(claim, DOMAIN, signer), count),
        rate(verify, count),
    )
    native = eth_account_rates(max(count // 20, 50), "eth_keys.backends.NativeECCBackend")
    fast = eth_account_rates(count, "eth_keys.backends.CoinCurveECCBackend")
    return [
        ("eth-account 0.14, pure-Python curve (baseline)", native["sign"], native["verify"]),
        ("eth-account 0.14, coincurve curve", fast["sign"], fast["verify"]),
        ours,
    ]


def mint_rates(count: int) -> dict[str, float | int]:
    """Mints per second one by one and pipelined, and the two concurrency checks, on anvil."""
    results: dict[str, float | int] = {}
    with AnvilNode(project_root=REPO, accounts=3) as node:
        payer = Signer.from_key_dangerously(ANVIL_KEY)
        chain = Chain.connect(node.rpc_url)
        chain.deploy(payer)
        artist = Signer.create()
        domain = chain.domain()

        def signed() -> SignedCertificate:
            return sign_certificate(certificate(artist.address, domain), domain, artist)

        batch = [signed() for _ in range(count)]
        started = time.perf_counter()
        for item in batch:
            chain.mint(item, payer)
        results["one_by_one"] = count / (time.perf_counter() - started)

        manager = TransactionManager(
            chain.web3, payer.account, MemoryNonceStore(), MemoryTxStore(), poll_interval_s=0.02
        )
        batch = [signed() for _ in range(count)]
        started = time.perf_counter()
        sent = [manager.send(chain.contract_address, chain.mint_calldata(item)) for item in batch]
        for record in sent:
            manager.wait(record)
        results["pipelined"] = count / (time.perf_counter() - started)

        before = int(chain.contract.functions.totalMinted().call())
        works = [signed() for _ in range(50)]
        errors: list[str] = []

        def mint_one(item: SignedCertificate) -> None:
            try:
                key = "mint:" + item.certificate.content_hash.hex()
                record = manager.send(chain.contract_address, chain.mint_calldata(item), key=key)
                manager.wait(record)
            except ProvenanceError as error:
                errors.append(f"{type(error).__name__}: {error}")

        with ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(mint_one, works))
        results["concurrent_50_tokens"] = (
            int(chain.contract.functions.totalMinted().call()) - before
        )
        results["concurrent_50_errors"] = len(errors)

        same = signed()
        before = int(chain.contract.functions.totalMinted().call())
        refusals: list[str] = []
        transactions: set[str] = set()

        def mint_same(_: int) -> None:
            try:
                chain.check_mintable(same, sender=payer.address)
                key = "mint:" + same.certificate.content_hash.hex()
                record = manager.send(chain.contract_address, chain.mint_calldata(same), key=key)
                transactions.add(manager.wait(record).tx_hash)
            except MintRefused as error:  # a later caller sees the token already minted
                refusals.append(str(error.name))
            except TransactionReverted:  # ... or sees it while estimating gas: nothing sent
                refusals.append("reverted in estimate")

        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(mint_same, range(10)))
        results["same_work_10_tokens"] = int(chain.contract.functions.totalMinted().call()) - before
        results["same_work_10_refused"] = len(refusals)
        results["same_work_10_transactions"] = len(transactions)
    return results


def main() -> None:
    """Run both benchmarks and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=3000)
    parser.add_argument("--mints", type=int, default=100)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("\n| path (one core) | signed / s | verified / s (from exported JSON) |")
    print("| --- | ---: | ---: |")
    rows = certificate_rates(args.certificates)
    for path, signed, verified in rows:
        print(f"| {path} | {signed:,.0f} | {verified:,.0f} |")
    base_sign, base_verify = rows[0][1], rows[0][2]
    print(
        f"\nAtelier vs the pure-Python baseline: {rows[-1][1] / base_sign:.1f}x signing, "
        f"{rows[-1][2] / base_verify:.1f}x verifying"
    )
    os.sched_setaffinity(0, range(os.cpu_count() or 1))  # anvil and the threads may use both
    mints = mint_rates(args.mints)
    print("\n| anvil 1.7.1, automine | value |")
    print("| --- | ---: |")
    print(f"| mints / s, one by one (send, receipt, next) | {mints['one_by_one']:.1f} |")
    print(f"| mints / s, pipelined (send all, then wait) | {mints['pipelined']:.1f} |")
    print(
        f"| 50 concurrent mints of 50 works | {mints['concurrent_50_tokens']} tokens, "
        f"{mints['concurrent_50_errors']} errors |"
    )
    print(
        f"| 10 concurrent mints of one work | {mints['same_work_10_tokens']} token from "
        f"{mints['same_work_10_transactions']} transaction; "
        f"{mints['same_work_10_refused']} requests refused before sending, the rest given "
        "the first request's transaction (idempotency key) |"
    )


if __name__ == "__main__":
    main()
