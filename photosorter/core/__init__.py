"""Qt-free domain logic: models, categories, scanning, cache, pipeline, file operations.

Nothing in this package imports PySide6, and torch/open_clip are imported lazily inside
`engine` so that `import photosorter.core.<anything>` stays cheap.
"""
