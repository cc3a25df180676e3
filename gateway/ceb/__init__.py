"""The CEB door: real CEB XML messages in, CEB receipts out (docs/ceb.md)."""
