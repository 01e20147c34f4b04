// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title NonReceiver (tests only)
/// @notice A contract without onERC721Received: safeTransferFrom to it must revert.
contract NonReceiver {
    /// @notice Something to call, so the contract is not empty.
    function ping() external pure returns (bool) {
        return true;
    }
}
