"""PhotoSorter: a local, private, zero-shot AI photo sorter built on OpenCLIP."""

__version__ = "0.1.0"
