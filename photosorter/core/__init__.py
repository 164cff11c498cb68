"""Qt-free domain logic, by concern: model/, library/, files/, watch/, and the modules every
part shares (categories, settings, paths, errors, userfiles).

Nothing in this package imports PySide6, and torch/open_clip are imported lazily inside
`model.engine` so that `import photosorter.core.<anything>` stays cheap.
"""
