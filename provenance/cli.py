"""`python -m provenance`: run a node, deploy, certify, mint, verify and look up works.

    python -m provenance node [--state var/chain/anvil-state.json] [--port 8545] [--chain-id 31337]
    python -m provenance deploy --rpc URL --key KEYFILE [--password-file F] [--out deployment.json]
    python -m provenance certify IMAGE --key KEYFILE [--password-file F]
        (--chain-id N --contract ADDRESS | --rpc URL --contract ADDRESS) --out CERTIFICATE
        [--royalty-bps 500] [--royalty-receiver ADDR] [--name T] [--description T]
        [--model-hash H --dataset-hash H --config-hash H --seed N] [--valid-days 30]
    python -m provenance mint CERTIFICATE --rpc URL --key KEYFILE [--password-file F]
    python -m provenance verify IMAGE CERTIFICATE [--rpc URL]
    python -m provenance lookup IMAGE --rpc URL --contract ADDRESS

Exit status: 0 when the command did what was asked (a certificate verified, a token found); 1 when
the answer is no (invalid, refused by the contract, not registered, the node down); 2 for a usage
error (flags, unreadable files, a wrong key or password). Errors are one line on stderr; key
material is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from provenance.certificate import (
    MAX_ROYALTY_BPS,
    Certificate,
    Domain,
    Generation,
    SignedCertificate,
    sign_certificate,
)
from provenance.eip712 import checksum_address
from provenance.errors import InvalidCertificate, InvalidKey, InvalidSignature, ProvenanceError
from provenance.hashing import content_hash
from provenance.metadata import Lineage, metadata_uri, work_metadata

if TYPE_CHECKING:
    from provenance.chain import Chain, TokenRecord
    from provenance.keys import Signer

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # a checkout's node_modules holds anvil
NONCE_BITS = 128
SECONDS_PER_DAY = 86_400
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


class UsageError(ProvenanceError):
    """The command line cannot work as given: flags that do not fit, a file that cannot be read."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a ProvenanceError prints one line and exits 1 (invalid) or 2 (usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.command(args))
    except (UsageError, InvalidKey) as error:
        _fail(args.command_name, error)
        return 2
    except ProvenanceError as error:
        _fail(args.command_name, error)
        return 1
    except KeyboardInterrupt:
        print(f"provenance {args.command_name}: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, error: ProvenanceError) -> None:
    """One line on stderr, whatever the message holds (a node's output can span lines)."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    print(f"provenance {command}: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provenance",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    node = commands.add_parser("node", help="run anvil in the foreground, its chain kept on disk")
    node.add_argument(
        "--state",
        type=Path,
        default=Path("var/chain/anvil-state.json"),
        metavar="PATH",
        help="the chain is loaded from and saved to this file (default: %(default)s)",
    )
    node.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    node.add_argument("--port", type=_port, default=8545, help="default: %(default)s")
    node.add_argument("--chain-id", type=_positive, metavar="N", help="default: 31337, anvil's")
    node.add_argument("--block-time", type=float, metavar="SECONDS", help="default: on demand")
    node.add_argument("--anvil", type=Path, metavar="PATH", help="default: node_modules, PATH")
    node.set_defaults(command=_node, command_name="node")

    deploy = commands.add_parser("deploy", help="deploy the AtelierWorks contract")
    deploy.add_argument("--rpc", type=_rpc_url, required=True, metavar="URL")
    _key_arguments(deploy, "the deployer's key (pays the gas)")
    deploy.add_argument(
        "--out", type=Path, metavar="FILE", help="write chain_id, contract and block here (JSON)"
    )
    deploy.set_defaults(command=_deploy, command_name="deploy")

    certify = commands.add_parser("certify", help="sign a certificate of authorship for an image")
    certify.add_argument("image", type=Path, metavar="IMAGE")
    _key_arguments(certify, "the creator's key")
    certify.add_argument(
        "--chain-id", type=_positive, metavar="N", help="offline: the chain to mint on"
    )
    certify.add_argument(
        "--rpc", type=_rpc_url, metavar="URL", help="read the chain id from this node"
    )
    certify.add_argument(
        "--contract", type=_address, required=True, metavar="ADDRESS", help="AtelierWorks address"
    )
    certify.add_argument(
        "--royalty-bps", type=_royalty, default=500, metavar="BPS", help="of 10,000 (max 5,000)"
    )
    certify.add_argument(
        "--royalty-receiver", type=_address, metavar="ADDRESS", help="default: the creator"
    )
    certify.add_argument(
        "--model-hash", type=_bytes32, metavar="HASH", help="sha256 of the model weights"
    )
    certify.add_argument(
        "--dataset-hash", type=_bytes32, metavar="HASH", help="sha256 of the dataset manifest"
    )
    certify.add_argument(
        "--config-hash", type=_bytes32, metavar="HASH", help="sha256 of the training config"
    )
    certify.add_argument("--seed", type=_natural, metavar="N", help="the generation seed")
    certify.add_argument("--model-name", metavar="TEXT", help="the model's name, for the metadata")
    certify.add_argument("--name", metavar="TEXT", help="the work's title (default: the file name)")
    certify.add_argument("--description", default="", metavar="TEXT")
    certify.add_argument(
        "--valid-days", type=_positive, default=30, metavar="DAYS", help="days it can be minted"
    )
    certify.add_argument("--out", type=Path, required=True, metavar="CERTIFICATE")
    certify.set_defaults(command=_certify, command_name="certify")

    mint = commands.add_parser("mint", help="mint the token a certificate describes")
    mint.add_argument("certificate", type=Path, metavar="CERTIFICATE")
    mint.add_argument("--rpc", type=_rpc_url, required=True, metavar="URL")
    _key_arguments(mint, "the payer's key (any funded account; the token goes to the creator)")
    mint.set_defaults(command=_mint, command_name="mint")

    verify = commands.add_parser("verify", help="check an image against its certificate")
    verify.add_argument("image", type=Path, metavar="IMAGE")
    verify.add_argument("certificate", type=Path, metavar="CERTIFICATE")
    verify.add_argument(
        "--rpc", type=_rpc_url, metavar="URL", help="also check the token on this chain"
    )
    verify.set_defaults(command=_verify, command_name="verify")

    lookup = commands.add_parser("lookup", help="the token registered for an image, as JSON")
    lookup.add_argument("image", type=Path, metavar="IMAGE")
    lookup.add_argument("--rpc", type=_rpc_url, required=True, metavar="URL")
    lookup.add_argument("--contract", type=_address, required=True, metavar="ADDRESS")
    lookup.set_defaults(command=_lookup, command_name="lookup")
    return parser


def _key_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--key", type=Path, required=True, metavar="KEYFILE", help=what)
    parser.add_argument(
        "--password-file", type=Path, metavar="FILE", help="the keystore's password, in a file"
    )


# ---- argument types (argparse turns their ArgumentTypeError into a usage error) -----------------


def _positive(text: str) -> int:
    value = _natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


def _natural(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _port(text: str) -> int:
    value = _natural(text)
    if not 0 < value < 65_536:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1 to 65535)")
    return value


def _royalty(text: str) -> int:
    value = _natural(text)
    if value > MAX_ROYALTY_BPS:
        raise argparse.ArgumentTypeError(
            f"{value} basis points is above the contract's maximum of {MAX_ROYALTY_BPS} (50%)"
        )
    return value


def _address(text: str) -> str:
    if not _ADDRESS.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a 0x-prefixed 20-byte hex address")
    checksummed = checksum_address(text)
    digits = text[2:]
    if digits not in (digits.lower(), digits.upper()) and checksummed != text:
        raise argparse.ArgumentTypeError(f"{text} fails its EIP-55 checksum (mistyped?)")
    return checksummed


def _rpc_url(text: str) -> str:
    if urlsplit(text).scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) JSON-RPC URL; for a local node: http://127.0.0.1:8545"
        )
    return text


def _bytes32(text: str) -> bytes:
    if not _BYTES32.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not 32 bytes as 0x-prefixed hex")
    return bytes.fromhex(text[2:])


# ---- commands -----------------------------------------------------------------------------------


def _node(args: argparse.Namespace) -> int:
    from provenance.node import ANVIL_CHAIN_ID, run_node

    return run_node(
        project_root=PROJECT_ROOT,
        binary=args.anvil,
        host=args.host,
        port=args.port,
        chain_id=args.chain_id or ANVIL_CHAIN_ID,
        state_path=args.state,
        block_time_s=args.block_time,
    )


def _deploy(args: argparse.Namespace) -> int:
    deployer = _signer(args)
    chain = _connect(args.rpc)
    contract = chain.deploy(deployer)
    # The head once the deployment is confirmed: nothing can be minted before the address is known,
    # so event scans may start here.
    deployment = {"chain_id": chain.chain_id, "contract": contract, "block": chain.block_number()}
    if args.out is not None:
        _write(args.out, json.dumps(deployment, indent=2) + "\n")
    _print_json(deployment)
    return 0


def _certify(args: argparse.Namespace) -> int:
    image = _read(args.image, "image")
    domain = _certify_domain(args)
    creator = _signer(args)
    generation, lineage = _generation(args)
    receiver = args.royalty_receiver or creator.address
    metadata = work_metadata(
        name=args.name or args.image.stem,
        description=args.description,
        image=image,
        creator=creator.address,
        royalty_receiver=receiver,
        royalty_bps=args.royalty_bps,
        lineage=lineage,
    )
    certificate = Certificate(
        creator=creator.address,
        content_hash=content_hash(image),
        generation=generation,
        metadata_uri=metadata_uri(metadata),
        royalty_receiver=receiver,
        royalty_bps=args.royalty_bps,
        nonce=secrets.randbits(NONCE_BITS),
        deadline=int(time.time()) + args.valid_days * SECONDS_PER_DAY,
    )
    signed = sign_certificate(certificate, domain, creator, metadata=metadata)
    _write(args.out, signed.dumps())
    _print_json(
        {
            "certificate": str(args.out),
            "creator": certificate.creator,
            "content_hash": _hex(certificate.content_hash),
            "metadata_uri": certificate.metadata_uri,
            "chain_id": domain.chain_id,
            "contract": domain.verifying_contract,
            "deadline": certificate.deadline,
        }
    )
    return 0


def _certify_domain(args: argparse.Namespace) -> Domain:
    """The chain and contract to certify for: from the flags offline, from the node with --rpc."""
    if args.rpc is None:
        if args.chain_id is None:
            raise UsageError(
                "offline certificates need --chain-id N and --contract ADDRESS (the chain and "
                "contract it will be minted on); or give --rpc URL to read the chain id from a node"
            )
        return Domain(chain_id=args.chain_id, verifying_contract=args.contract)
    chain = _connect(args.rpc, args.contract)
    domain = chain.domain()
    if args.chain_id is not None and args.chain_id != domain.chain_id:
        raise UsageError(
            f"--chain-id {args.chain_id} but the node at {_where(args.rpc)} serves chain "
            f"{domain.chain_id}; drop --chain-id or point --rpc at the right node"
        )
    return domain


def _generation(args: argparse.Namespace) -> tuple[Generation, Lineage | None]:
    """How the work was made (all zero for an upload), for the certificate and the metadata."""
    hashes = {"--model-hash": args.model_hash, "--dataset-hash": args.dataset_hash}
    hashes["--config-hash"] = args.config_hash
    given = [flag for flag, value in hashes.items() if value is not None]
    if not given and args.seed is None and args.model_name is None:
        return Generation(), None
    missing = [flag for flag, value in hashes.items() if value is None]
    if missing:
        raise UsageError(
            f"a generated work's lineage needs all three hashes: {', '.join(missing)} missing "
            "(leave out every lineage flag for an uploaded image)"
        )
    seed = args.seed or 0
    lineage = Lineage(
        model_hash=args.model_hash,
        dataset_hash=args.dataset_hash,
        config_hash=args.config_hash,
        seed=seed,
        model_name=args.model_name or f"model {_hex(args.model_hash)[:14]}",
    )
    generation = Generation(
        model_hash=args.model_hash,
        dataset_hash=args.dataset_hash,
        config_hash=args.config_hash,
        seed=seed,
    )
    return generation, lineage


def _mint(args: argparse.Namespace) -> int:
    signed = _load_certificate(args.certificate)
    payer = _signer(args)
    domain = signed.domain
    chain = _connect(args.rpc)
    served = chain.chain_id
    if served != domain.chain_id:
        raise InvalidCertificate(
            f"refused: the certificate is for chain id {domain.chain_id}, but the node at "
            f"{_where(args.rpc)} serves chain {served}; mint it on its own chain, or certify "
            "the image again for this one"
        )
    chain.use_contract(domain.verifying_contract)
    receipt = chain.mint(signed, payer)
    _print_json(
        {
            "token_id": receipt.token_id,
            "tx_hash": receipt.tx_hash,
            "block": receipt.block_number,
            "creator": receipt.creator,
            "contract": domain.verifying_contract,
            "chain_id": served,
        }
    )
    return 0


@dataclass(frozen=True)
class Check:
    """One thing `verify` checked, and what it found."""

    name: str
    ok: bool
    detail: str


def _verify(args: argparse.Namespace) -> int:
    image = _read(args.image, "image")
    signed = _load_certificate(args.certificate)
    chain = _connect(args.rpc) if args.rpc is not None else None
    checks = [_check_content(signed, image), *_check_metadata(signed)]
    if chain is None:
        checks.append(_check_signature(signed, None))
    else:
        checks += _check_on_chain(signed, chain)
    for check in checks:
        if check.ok:
            print(f"ok    {check.name}: {check.detail}")
    failures = [check for check in checks if not check.ok]
    for check in failures:
        print(f"FAIL  {check.name}: {check.detail}", file=sys.stderr)
    if failures:
        print(
            f"provenance verify: {args.certificate} does NOT hold for {args.image}", file=sys.stderr
        )
        return 1
    where = "on chain" if chain is not None else "offline (add --rpc URL to check the token)"
    print(f"valid: {args.certificate} certifies {args.image}, checked {where}")
    return 0


def _check_content(signed: SignedCertificate, image: bytes) -> Check:
    actual, certified = content_hash(image), signed.certificate.content_hash
    if actual == certified:
        return Check(
            "content hash", True, f"the image's sha256 {_hex(actual)} is the certified one"
        )
    return Check(
        "content hash",
        False,
        f"mismatch: the image's sha256 is {_hex(actual)} but the certificate names "
        f"{_hex(certified)} (not the certified bytes: altered, re-encoded or another image)",
    )


def _check_metadata(signed: SignedCertificate) -> list[Check]:
    """The embedded metadata, when the export carries it, must be what metadataURI names."""
    if signed.metadata is None:
        return []
    uri = signed.certificate.metadata_uri
    try:
        computed = metadata_uri(signed.metadata)
    except ProvenanceError as error:
        return [Check("metadata", False, f"the embedded metadata has no canonical form: {error}")]
    if computed != uri:
        return [
            Check(
                "metadata",
                False,
                f"the embedded metadata hashes to {computed}, but the signed metadataURI is {uri}",
            )
        ]
    return [Check("metadata", True, f"the embedded metadata is {uri}")]


def _check_signature(signed: SignedCertificate, chain: Chain | None) -> Check:
    """By the creator: ecrecover offline; on chain, EIP-1271 for a creator that is a wallet."""
    creator = signed.certificate.creator
    try:
        signer = signed.recovered_signer()
    except InvalidSignature as error:
        signer = None
        problem = f"no signer recovers from it ({error})"
    else:
        if signer == creator:
            return Check("signature", True, f"signed by the creator {creator}")
        problem = f"signed by {signer}, not by the creator {creator} (forged or altered)"
    if chain is not None and chain.is_valid_signature(signed):
        return Check("signature", True, f"accepted by the creator's EIP-1271 wallet {creator}")
    if chain is None:
        problem += "; if the creator is an EIP-1271 wallet, verify with --rpc URL"
    return Check("signature", False, problem)


def _check_on_chain(signed: SignedCertificate, chain: Chain) -> list[Check]:
    domain, certificate = signed.domain, signed.certificate
    served = chain.chain_id
    if served != domain.chain_id:
        return [
            _check_signature(signed, None),
            Check(
                "chain",
                False,
                f"the certificate is for chain id {domain.chain_id}, but the node serves {served}",
            ),
        ]
    try:
        chain.use_contract(domain.verifying_contract)
    except ProvenanceError as error:
        return [_check_signature(signed, chain), Check("contract", False, str(error))]
    checks = [
        _check_signature(signed, chain),
        Check("chain", True, f"chain id {served}, contract {domain.verifying_contract}"),
    ]
    token = chain.lookup(certificate.content_hash)
    if token is None:
        checks.append(
            Check(
                "token",
                False,
                f"no token holds content {_hex(certificate.content_hash)} on "
                f"{domain.verifying_contract}: not minted (`python -m provenance mint`)",
            )
        )
        return checks
    checks.append(Check("token", True, _minted(token)))
    expected = [
        ("creator", token.creator, certificate.creator),
        (
            "generation hash",
            _hex(token.generation_hash),
            _hex(certificate.generation.struct_hash()),
        ),
        ("metadata URI", token.token_uri, certificate.metadata_uri),
    ]
    for name, on_chain, certified in expected:
        if on_chain == certified:
            checks.append(Check(name, True, f"the token's {name} {on_chain} is the certificate's"))
        else:
            checks.append(
                Check(
                    name,
                    False,
                    f"the token's {name} is {on_chain}, the certificate's is {certified}: "
                    f"token #{token.token_id} was minted from another certificate",
                )
            )
    return checks


def _minted(token: TokenRecord) -> str:
    if token.mint_tx is None:
        return f"#{token.token_id} holds this content"
    return (
        f"#{token.token_id} holds this content (minted in {token.mint_tx}, block "
        f"{token.mint_block}, {token.confirmations} confirmations)"
    )


def _lookup(args: argparse.Namespace) -> int:
    image = _read(args.image, "image")
    digest = content_hash(image)
    chain = _connect(args.rpc, args.contract)
    token = chain.lookup(digest)
    if token is None:
        print(
            f"provenance lookup: not registered: no token holds {args.image} (sha256 "
            f"{_hex(digest)}) on {chain.contract_address}, chain {chain.chain_id}",
            file=sys.stderr,
        )
        return 1
    _print_json(
        {
            "token_id": token.token_id,
            "owner": token.owner,
            "creator": token.creator,
            "content_hash": _hex(token.content_hash),
            "generation_hash": _hex(token.generation_hash),
            "token_uri": token.token_uri,
            "royalty": {"receiver": token.royalty_receiver, "bps": token.royalty_bps},
            "mint_tx": token.mint_tx,
            "block": token.mint_block,
            "confirmations": token.confirmations,
            "contract": chain.contract_address,
            "chain_id": chain.chain_id,
        }
    )
    return 0


def _where(rpc_url: str) -> str:
    """Scheme, host and port of an RPC URL: its path often holds an API key."""
    parts = urlsplit(rpc_url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _connect(rpc_url: str, contract: str | None = None) -> Chain:
    """The chain behind `rpc_url`; web3 loads only here, so offline commands start quickly."""
    from provenance.chain import Chain

    return Chain.connect(rpc_url, contract)


# ---- files --------------------------------------------------------------------------------------


def _signer(args: argparse.Namespace) -> Signer:
    from provenance.keys import load_key_file  # eth-account: a second's import, not for verify

    return load_key_file(args.key, password_file=args.password_file)


def _load_certificate(path: Path) -> SignedCertificate:
    return SignedCertificate.loads(_read(path, "certificate"))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read the {what} {path}: {error.strerror}") from error


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a half-written certificate would fail later, far from here."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {error.strerror}") from error


def _print_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, indent=2))


def _hex(data: bytes) -> str:
    return "0x" + data.hex()
