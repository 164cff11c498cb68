"""The model: names and loading (engine, download), fast image encoders (accel), scoring.

torch and open_clip are imported lazily inside `engine`, never at package import.
"""

# Here, not in engine: naming the default model (the CLI's help, settings) loads no model code.
DEFAULT_ARCH = "ViT-B-32"
DEFAULT_TAG = "laion2b_s34b_b79k"
DEFAULT_MODEL = f"{DEFAULT_ARCH}:{DEFAULT_TAG}"

#: What a user (or a setting) may ask for. "auto" runs the fastest, timed on the user's photos.
BACKENDS: tuple[str, ...] = (
    "auto",
    "pytorch",
    "openvino-int8",
    "openvino-bf16",
    "openvino-fp32",
    "torch-bf16",
    "torch-fp16",
)

# A photo stays Uncategorized unless its best category fits it at least this well, where 1
# is "as well as the best word the model knows for it" and 0 "as badly as the worst".
# Measured on the tiny test model: 0.7 keeps >= 99% of photos of present classes and
# rejects >= 92% of absent ones (tests/fixtures/accuracy.py).
DEFAULT_MIN_FIT = 0.7
