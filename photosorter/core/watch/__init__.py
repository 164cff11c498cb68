"""Watched folders: settled batches of new photos (watcher) sorted as they arrive (autosort)."""
