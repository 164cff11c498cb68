"""Find photos: by words or a photo (search), and the same picture twice (duplicates)."""
