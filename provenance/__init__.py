"""Provenance: content hashing, EIP-712 certificates, the token contract, chain, verification.

A plain library: imports only web3 and eth-account, takes every value as an argument, and never
imports Django. Its errors all derive from `ProvenanceError`.
"""

from provenance.errors import ChainUnavailable, ProvenanceError

__all__ = ["ChainUnavailable", "ProvenanceError"]
