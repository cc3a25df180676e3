"""Signed webhooks of status changes (role `webhooks`): rules, store, recorder, sender, routes."""
