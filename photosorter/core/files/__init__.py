"""Changing the user's files: plan/apply/undo (fileops), crash-safe steps (safeio), the
durable journal, and XMP sidecar keywords (xmp)."""
