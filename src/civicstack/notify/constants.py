"""Choices of the notifications app that other apps may name."""

from civicstack.notify.models import FAILED_STATUSES, FINAL_STATUSES, KeyType, Kind, Status

__all__ = ["FAILED_STATUSES", "FINAL_STATUSES", "KeyType", "Kind", "Status"]
