// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721URIStorage} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721URIStorage.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Atelier Works
/// @notice One ERC-721 token per artwork, minted from a certificate its creator signed (EIP-712).
/// @dev The certificate binds the image's sha256, how it was generated, its metadata URI and its
/// royalty. Anyone may submit it (the platform relays and pays gas); the token always goes to the
/// creator. Creators may be EOAs or EIP-1271 contract wallets. See docs/PROVENANCE_SPEC.md.
contract AtelierWorks is ERC721URIStorage, ERC2981, EIP712 {
    /// @notice How a work was generated: sha256 of the model weights, dataset manifest and
    /// canonical training config, and the seed. All zero for an uploaded work.
    struct Generation {
        bytes32 modelHash;
        bytes32 datasetHash;
        bytes32 configHash;
        uint256 seed;
    }

    /// @notice What a creator signs to have a work minted to them.
    struct Certificate {
        address creator;
        bytes32 contentHash;
        Generation generation;
        string metadataURI;
        address royaltyReceiver;
        uint96 royaltyBps;
        uint256 nonce;
        uint256 deadline;
    }

    /// @dev What the chain remembers about each token beyond ERC-721 ownership.
    struct Work {
        address creator;
        bytes32 contentHash;
        bytes32 generationHash;
    }

    /// @notice The highest royalty a certificate may ask for, in basis points (50%).
    uint96 public constant MAX_ROYALTY_BPS = 5000;

    bytes32 private constant GENERATION_TYPEHASH =
        keccak256("Generation(bytes32 modelHash,bytes32 datasetHash,bytes32 configHash,uint256 seed)");

    // EIP-712 appends the referenced struct types, sorted by name, to the primary type.
    bytes32 private constant CERTIFICATE_TYPEHASH = keccak256(
        "Certificate(address creator,bytes32 contentHash,Generation generation,string metadataURI,"
        "address royaltyReceiver,uint96 royaltyBps,uint256 nonce,uint256 deadline)"
        "Generation(bytes32 modelHash,bytes32 datasetHash,bytes32 configHash,uint256 seed)"
    );

    uint256 private _totalMinted;
    mapping(uint256 tokenId => Work) private _works;
    mapping(bytes32 contentHash => uint256 tokenId) private _tokenOfContent;
    mapping(address creator => mapping(uint256 nonce => bool)) private _nonceUsed;

    /// @notice A work was minted as `tokenId` to `creator`.
    event WorkRegistered(
        uint256 indexed tokenId, address indexed creator, bytes32 indexed contentHash, bytes32 generationHash
    );

    /// @notice `creator` cancelled `nonce`; no certificate carrying it can be minted.
    event NonceCancelled(address indexed creator, uint256 nonce);

    /// @notice The certificate's deadline has passed.
    error CertificateExpired(uint256 deadline, uint256 timestamp);

    /// @notice The creator already used or cancelled this nonce.
    error NonceAlreadyUsed(address creator, uint256 nonce);

    /// @notice A token already exists for this content hash.
    error ContentAlreadyRegistered(bytes32 contentHash, uint256 tokenId);

    /// @notice The signature is not the creator's over the certificate's EIP-712 digest.
    error InvalidCertificateSignature(address creator);

    /// @notice The certificate asks for more than MAX_ROYALTY_BPS.
    error RoyaltyTooHigh(uint96 royaltyBps, uint96 maximum);

    /// @param name_ The collection's ERC-721 name ("Atelier Works" in deploy code).
    /// @param symbol_ The collection's ERC-721 symbol ("ATLR" in deploy code).
    constructor(string memory name_, string memory symbol_) ERC721(name_, symbol_) EIP712("Atelier Works", "1") {}

    /// @notice Mint the work a certificate describes to its creator.
    /// @dev Checks, in order: royalty cap, deadline, nonce, content uniqueness, signature; then
    /// records everything before minting.
    /// @param certificate The signed certificate.
    /// @param signature The creator's signature over `certificateDigest(certificate)`: 65-byte ECDSA
    /// for an EOA, whatever the wallet's EIP-1271 `isValidSignature` accepts for a contract.
    /// @return tokenId The new token's id (ids start at 1).
    function mintWithSignature(Certificate calldata certificate, bytes calldata signature)
        external
        returns (uint256 tokenId)
    {
        if (certificate.royaltyBps > MAX_ROYALTY_BPS) {
            revert RoyaltyTooHigh(certificate.royaltyBps, MAX_ROYALTY_BPS);
        }
        if (block.timestamp > certificate.deadline) {
            revert CertificateExpired(certificate.deadline, block.timestamp);
        }
        address creator = certificate.creator;
        if (_nonceUsed[creator][certificate.nonce]) {
            revert NonceAlreadyUsed(creator, certificate.nonce);
        }
        bytes32 contentHash = certificate.contentHash;
        uint256 existing = _tokenOfContent[contentHash];
        if (existing != 0) {
            revert ContentAlreadyRegistered(contentHash, existing);
        }
        bytes32 digest = _hashTypedDataV4(_certificateStructHash(certificate));
        if (!SignatureChecker.isValidSignatureNowCalldata(creator, digest, signature)) {
            revert InvalidCertificateSignature(creator);
        }

        _nonceUsed[creator][certificate.nonce] = true;
        tokenId = ++_totalMinted;
        bytes32 generationHash_ = _generationHash(certificate.generation);
        _tokenOfContent[contentHash] = tokenId;
        _works[tokenId] = Work(creator, contentHash, generationHash_);

        // _mint, not _safeMint: the creator signed for this token, so it must receive it even when
        // it is an EIP-1271 wallet without onERC721Received; the receiver check would also hand
        // control to the creator's code in the middle of a mint.
        _mint(creator, tokenId);
        _setTokenURI(tokenId, certificate.metadataURI);
        _setTokenRoyalty(tokenId, certificate.royaltyReceiver, certificate.royaltyBps);
        emit WorkRegistered(tokenId, creator, contentHash, generationHash_);
    }

    /// @notice Cancel one of the caller's certificate nonces so that certificate can never be minted.
    /// @param nonce The nonce to cancel; reverts with NonceAlreadyUsed if it was used or cancelled.
    function cancelNonce(uint256 nonce) external {
        if (_nonceUsed[msg.sender][nonce]) {
            revert NonceAlreadyUsed(msg.sender, nonce);
        }
        _nonceUsed[msg.sender][nonce] = true;
        emit NonceCancelled(msg.sender, nonce);
    }

    /// @notice The token minted for a content hash (sha256 of the image file), 0 when none.
    function tokenOfContent(bytes32 contentHash) external view returns (uint256) {
        return _tokenOfContent[contentHash];
    }

    /// @notice Who created a token's work, its content hash and its generation hash.
    /// @dev Reverts with ERC721NonexistentToken for a token that was never minted.
    function workOf(uint256 tokenId)
        external
        view
        returns (address creator, bytes32 contentHash, bytes32 generationHash_)
    {
        _requireOwned(tokenId);
        Work storage work = _works[tokenId];
        return (work.creator, work.contentHash, work.generationHash);
    }

    /// @notice Whether `creator` has used or cancelled `nonce`.
    function nonceUsed(address creator, uint256 nonce) external view returns (bool) {
        return _nonceUsed[creator][nonce];
    }

    /// @notice The EIP-712 digest a creator signs for `certificate` on this contract and chain.
    function certificateDigest(Certificate calldata certificate) external view returns (bytes32) {
        return _hashTypedDataV4(_certificateStructHash(certificate));
    }

    /// @notice EIP-712 hashStruct of a Generation, as emitted in WorkRegistered.
    function generationHash(Generation calldata generation) external pure returns (bytes32) {
        return _generationHash(generation);
    }

    /// @notice How many works have been minted; also the highest token id.
    function totalMinted() external view returns (uint256) {
        return _totalMinted;
    }

    /// @inheritdoc ERC721URIStorage
    function supportsInterface(bytes4 interfaceId)
        public
        view
        virtual
        override(ERC721URIStorage, ERC2981)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    /// @dev EIP-712 hashStruct(Generation).
    function _generationHash(Generation calldata generation) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                GENERATION_TYPEHASH, generation.modelHash, generation.datasetHash, generation.configHash, generation.seed
            )
        );
    }

    /// @dev EIP-712 hashStruct(Certificate): the nested Generation as its own hashStruct, the
    /// string as the keccak256 of its bytes.
    function _certificateStructHash(Certificate calldata certificate) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                CERTIFICATE_TYPEHASH,
                certificate.creator,
                certificate.contentHash,
                _generationHash(certificate.generation),
                keccak256(bytes(certificate.metadataURI)),
                certificate.royaltyReceiver,
                certificate.royaltyBps,
                certificate.nonce,
                certificate.deadline
            )
        );
    }
}
