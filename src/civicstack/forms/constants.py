"""Names other apps may rely on."""

from __future__ import annotations

# Session keys: the anonymous person's drafts, and the upload holders their drafts own (the
# documents app reads the latter to let them see their own uploads).
SESSION_DRAFTS = "forms.drafts"
SESSION_DOCUMENT_HOLDERS = "documents.holders"
SESSION_PRECHECK = "forms.precheck"
APPLICATION_REFERENCE_PREFIX = "APP"
MAX_ANSWERS_BYTES = 512 * 1024
# Uploads one draft may hold at once, across all its questions (each question has its own
# limit too); and what one agency's API key may hold before submitting.
MAX_FILES_PER_DRAFT = 100
MAX_FILES_PER_API_HOLDER = 10_000
