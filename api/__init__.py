"""The HTTP API: event intake, feed serving, status."""
