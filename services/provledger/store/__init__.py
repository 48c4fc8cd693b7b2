"""Postgres storage of the ledger (asyncpg): migrations, and the writers and readers later parts add."""
