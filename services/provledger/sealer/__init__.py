"""The sealer: Kafka event records into signed Merkle blocks in Postgres, exactly once."""
