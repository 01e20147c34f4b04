"""The provenance library's exceptions; every one derives from ProvenanceError."""


class ProvenanceError(Exception):
    """Root of every error this library raises."""


class ChainUnavailable(ProvenanceError):
    """The chain's JSON-RPC endpoint did not answer, or answered nonsense."""
