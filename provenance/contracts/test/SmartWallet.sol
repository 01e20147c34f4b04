// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title SmartWallet (tests only)
/// @notice A minimal EIP-1271 wallet: a signature is valid when its owner EOA signed the hash.
/// @dev It has no onERC721Received, so it can only receive tokens through transferFrom or _mint.
contract SmartWallet is IERC1271 {
    /// @notice The EOA whose ECDSA signatures this wallet accepts.
    address public immutable owner;

    /// @param owner_ The EOA whose signatures the wallet accepts.
    constructor(address owner_) {
        owner = owner_;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError error_,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (error_ == ECDSA.RecoverError.NoError && recovered == owner) {
            return IERC1271.isValidSignature.selector;
        }
        return 0xffffffff;
    }
}
