"""The photo library: find photos (scanner), decode them (images), index them (pipeline)
into the SQLite store (cache)."""
