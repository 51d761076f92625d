"""Adapters between shiplog's core and the outside world."""
