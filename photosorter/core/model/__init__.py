"""The model: names and loading (engine, download), fast image encoders (accel), scoring.

torch and open_clip are imported lazily inside `engine`, never at package import.
"""

# Here, not in engine: naming the default model (the CLI's help, settings) loads no model code.
DEFAULT_ARCH = "ViT-B-32"
DEFAULT_TAG = "laion2b_s34b_b79k"
DEFAULT_MODEL = f"{DEFAULT_ARCH}:{DEFAULT_TAG}"
