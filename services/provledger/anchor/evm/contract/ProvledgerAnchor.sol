// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title provledger's on-chain anchor: a public, ordered, enumerable record of shard-heads statements.
/// @notice Stateless on purpose: it stores nothing and checks nothing, so it costs one log per
/// statement and can never be paused, upgraded or made to forget. Whoever reads the chain lists every
/// anchor a ledger ever made with eth_getLogs on the submitter topic; two statements that conflict
/// are then both public.
contract ProvledgerAnchor {
    /// @param submitter the ledger's anchorer account (msg.sender), so its anchors can be enumerated
    /// @param origin SHA-256 of the ledger's log origin (the statement's first line)
    /// @param seq the statement's sequence number
    /// @param digest SHA-256 of the signed statement note, exactly as signed
    event Anchored(address indexed submitter, bytes32 indexed origin, uint64 indexed seq, bytes32 digest);

    /// @notice Record that msg.sender anchors the statement with this digest.
    function anchor(bytes32 origin, uint64 seq, bytes32 digest) external {
        emit Anchored(msg.sender, origin, seq, digest);
    }
}
