"""Store layer: the schema, the engine, the audit chain, the inbox and the outbox."""
