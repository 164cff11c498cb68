"""open_clip's SimpleTokenizer (CLIP BPE) without torch: token ids as a numpy array.

`import open_clip` imports torch (seconds); a new search query needs only its tokens. This
reads the BPE merges open_clip ships (`bpe_simple_vocab_16e6.txt.gz`) and reproduces
`open_clip.tokenizer.SimpleTokenizer` with its default cleaning ("lower"), token for
token (a test checks that on many strings). Models with another tokenizer (Hugging Face,
SigLIP) are not served here: `tokenizer_for` returns None for them.
"""

from __future__ import annotations

import functools
import gzip
import html
import importlib.util
import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_CONTEXT_LENGTH = 77
_VOCAB = "bpe_simple_vocab_16e6.txt.gz"
_SPECIAL = ("<start_of_text>", "<end_of_text>")


def open_clip_dir() -> Path | None:
    """open_clip's package folder, found without importing it (which would import torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """The reversible byte -> printable character map of CLIP's BPE."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


class ClipTokenizer:
    """CLIP's BPE tokenizer: texts -> (N, context_length) int64 token ids."""

    def __init__(self, vocab_path: Path, context_length: int = DEFAULT_CONTEXT_LENGTH) -> None:
        import regex

        with gzip.open(vocab_path, "rt", encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        merges = lines[1 : 49152 - 256 - 2 + 1]  # "first second", best first
        self._byte_encoder = _bytes_to_unicode()
        vocab = list(self._byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += [m.replace(" ", "") for m in merges]
        vocab += _SPECIAL
        self._encoder = {token: i for i, token in enumerate(vocab)}
        self._ranks = {m: i for i, m in enumerate(merges)}  # kept as text: no tuple per merge
        self._cache = {t: t for t in _SPECIAL}
        self._pattern = regex.compile(
            "|".join(_SPECIAL) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE,
        )
        self.sot, self.eot = (self._encoder[t] for t in _SPECIAL)
        self.context_length = context_length

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            tokens = [self.sot, *self.encode(text), self.eot]
            if len(tokens) > self.context_length:  # truncate, keeping the end token
                tokens = tokens[: self.context_length]
                tokens[-1] = self.eot
            out[row, : len(tokens)] = tokens
        return out

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for token in self._pattern.findall(_clean(text)):
            chars = "".join(self._byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self._encoder[t] for t in self._bpe(chars).split(" "))
        return ids

    def _bpe(self, token: str) -> str:
        if token in self._cache:
            return self._cache[token]
        word = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pairs = {f"{a} {b}" for a, b in itertools.pairwise(word)}
            bigram = min(pairs, key=lambda p: self._ranks.get(p, float("inf")))
            if bigram not in self._ranks:
                break
            first, second = bigram.split(" ")
            word = _merge(word, first, second)
        joined = " ".join(word)
        self._cache[token] = joined
        return joined


def _merge(word: tuple[str, ...], first: str, second: str) -> tuple[str, ...]:
    """`word` with every adjacent (first, second) joined into one symbol."""
    out: list[str] = []
    i = 0
    while i < len(word):
        if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
            out.append(first + second)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


# Text ftfy leaves as it is: printable ASCII and whitespace, no HTML entity, no escape code.
_PLAIN = re.compile(r"[\x20-\x25\x27-\x7e\t\n\r]*")


def _clean(text: str) -> str:
    """open_clip's "lower" cleaning: ftfy, HTML entities (twice), whitespace, lower case."""
    if not _PLAIN.fullmatch(text):  # ftfy's import costs a cold query 0.15 s: only when needed
        import ftfy

        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split()).lower()


def text_config(spec_kind: str, name: str) -> dict | None:
    """The `text_cfg` of a model, read without open_clip (None when unknown here)."""
    if spec_kind == "local-dir":
        path = Path(name) / "open_clip_config.json"
    elif spec_kind == "pretrained" and (root := open_clip_dir()) is not None:
        path = root / "model_configs" / f"{name}.json"
    else:  # hf-hub: the config may not even be downloaded; the torch path knows best
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = config.get("model_cfg", config)
    return config.get("text_cfg", {}) if isinstance(config, dict) else None


def tokenizer_for(spec_kind: str, name: str) -> ClipTokenizer | None:
    """The tokenizer open_clip would use for this model, when it is plain CLIP BPE."""
    cfg = text_config(spec_kind, name)
    root = open_clip_dir()
    if cfg is None or root is None or not (root / _VOCAB).is_file():
        return None
    if cfg.get("hf_tokenizer_name") or cfg.get("hf_model_name"):
        return None  # a Hugging Face tokenizer
    if spec_kind == "pretrained" and "siglip" in name.lower():
        return None  # open_clip picks SigLipTokenizer by name
    kwargs = cfg.get("tokenizer_kwargs") or {}
    if any(kwargs.get(k, v) != v for k, v in (("clean", "lower"), ("reduction_mask", ""))) or (
        set(kwargs) - {"clean", "reduction_mask"}
    ):
        return None
    return ClipTokenizer(root / _VOCAB, int(cfg.get("context_length", DEFAULT_CONTEXT_LENGTH)))
