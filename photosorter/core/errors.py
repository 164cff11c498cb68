"""Errors a user can fix. Anything else raised from core is a bug."""

from __future__ import annotations


class PhotoSorterError(Exception):
    """Base for problems the user can act on; the message is shown as-is."""


class ConfigError(PhotoSorterError):
    """A categories file, settings file or command-line value is invalid."""


class ModelError(PhotoSorterError):
    """A model could not be found, downloaded or loaded."""


class ModelDownloadError(ModelError):
    """Model weights could not be downloaded (usually: offline)."""


class ImageError(PhotoSorterError):
    """One image could not be read or decoded; reported per file."""


class FileOpError(PhotoSorterError):
    """One file operation failed; reported per file, the source is untouched."""


class StorageError(PhotoSorterError):
    """A folder PhotoSorter keeps its own files in (store, settings) cannot be written."""
