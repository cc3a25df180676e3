"""Contracts only: the envelope, commands, events, topics and the gateway's public models."""
