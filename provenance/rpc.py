"""Talking to an EVM node over JSON-RPC."""

from __future__ import annotations

from urllib.parse import urlsplit

from web3 import HTTPProvider, Web3

from provenance.errors import ChainUnavailable


def chain_id(rpc_url: str, *, timeout: float = 5.0) -> int:
    """The chain id the node at `rpc_url` serves (eth_chainId)."""
    web3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        return int(web3.eth.chain_id)
    except Exception as error:
        raise ChainUnavailable(
            f"no chain id from the node at {_host(rpc_url)}: {type(error).__name__}"
        ) from error


def _host(rpc_url: str) -> str:
    """Scheme, host and port only: RPC URLs often carry an API key in the path."""
    parts = urlsplit(rpc_url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
