"""The provenance library's exceptions; every one derives from ProvenanceError."""


class ProvenanceError(Exception):
    """Root of every error this library raises."""


class ChainUnavailable(ProvenanceError):
    """The chain's JSON-RPC endpoint did not answer, or answered nonsense."""


class ArtifactMissing(ProvenanceError):
    """A compiled contract artifact (contracts/build/<Name>.json) is absent or unreadable."""


class InvalidTypedData(ProvenanceError):
    """EIP-712 typed data that cannot be encoded: bad types, missing fields, out-of-range values."""


class InvalidSignature(ProvenanceError):
    """A signature that is malformed, or valid but not by the expected signer."""


class InvalidCertificate(ProvenanceError):
    """A certificate that does not hold together: wrong shape, wrong chain, expired, tampered."""


class InvalidKey(ProvenanceError):
    """A key file that cannot be read: wrong password, unknown format, not a secp256k1 key."""


class InvalidSiweMessage(ProvenanceError):
    """A Sign-In with Ethereum (EIP-4361) message that is malformed, expired or for another site."""


class NodeError(ProvenanceError):
    """A local node (anvil) that cannot be found, started or stopped."""


class TransactionFailed(ProvenanceError):
    """A transaction the node refused, or one that failed on chain."""

    def __init__(self, message: str, *, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class TransactionReverted(TransactionFailed):
    """A transaction, or its simulation, that reverted; `reason` is decoded when the data allows."""

    def __init__(
        self,
        message: str,
        *,
        data: bytes = b"",
        reason: str | None = None,
        tx_hash: str | None = None,
    ) -> None:
        super().__init__(message, tx_hash=tx_hash)
        self.data = data
        self.reason = reason


class NonceTooLow(TransactionFailed):
    """The node has already seen a transaction with this sender and nonce."""


class FeeTooLow(TransactionFailed):
    """The fees are below what the node accepts (base fee, pool minimum, or the fee cap)."""


class ReplacementUnderpriced(FeeTooLow):
    """A replacement transaction whose fees do not beat the one it replaces by enough."""


class InsufficientFunds(TransactionFailed):
    """The sender cannot pay value plus gas times the max fee."""

    def __init__(
        self,
        message: str,
        *,
        address: str,
        needed_wei: int | None = None,
        balance_wei: int | None = None,
        tx_hash: str | None = None,
    ) -> None:
        super().__init__(message, tx_hash=tx_hash)
        self.address = address
        self.needed_wei = needed_wei
        self.balance_wei = balance_wei


class TransactionTimeout(ProvenanceError):
    """A transaction that was not confirmed within the time given; it may still be mined later."""

    def __init__(self, message: str, *, tx_hash: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class InvalidImage(ProvenanceError):
    """Bytes this library will not decode as an image: unknown format, damaged, or too large."""


class InvalidMetadata(ProvenanceError):
    """A value that has no canonical JSON form, or metadata arguments that are out of range."""


class MintRefused(ProvenanceError):
    """The contract would refuse (or refused) a call; `name`, `arguments`: its custom error."""

    def __init__(self, message: str, *, name: str | None, arguments: tuple[object, ...]) -> None:
        super().__init__(message)
        self.name = name
        self.arguments = arguments
