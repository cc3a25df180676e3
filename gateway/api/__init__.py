"""The public REST API (role `api`): declarations, filings, admin, sandbox controls."""
