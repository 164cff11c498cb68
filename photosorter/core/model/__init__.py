"""The model: names and loading (engine, download), fast image encoders (accel), scoring.

torch and open_clip are imported lazily inside `engine`, never at package import.
"""
