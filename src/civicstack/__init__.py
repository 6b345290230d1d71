"""Civicstack: an open-source digital public services platform."""

__version__ = "0.1.0"
