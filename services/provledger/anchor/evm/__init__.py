"""The ``evm`` anchor kind (issue 21): statements anchored through a tiny contract on an Ethereum-compatible chain."""
