"""What every role of the gateway uses: its settings, its own tables, API keys, Idempotency-Key."""
