"""Find photos: by words or a photo (search), and the same picture twice (duplicates)."""

# Here, not in duplicates: the command line's help names them without loading numpy.
DEFAULT_THRESHOLD = 0.9  # hashes agree on >= 90% of their bits: at most 6 of 64 differ
MIN_THRESHOLD = 0.75  # at most 16 bits: beyond, unrelated photos match and the search is slow
