"""The trainer's dashboard: the page, the live stream of status changes, pace control."""
