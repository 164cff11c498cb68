"""The torch-free tokenizer and the exported text tower match open_clip and torch."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photosorter.core.model import text_tower
from photosorter.core.model.engine import Engine, ModelSpec
from photosorter.core.model.tokenizer import tokenizer_for
from photosorter.core.model.vocabulary import VOCABULARY

_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      .,;:!?'\"-_()[]{}&#/\\"
    "éèêçàüößñøåÆŒ€£¥©®°±×÷ğışçĞİŞ写真日本語中文한국어Ελληνικάрусскийעבריתالعربية🐶🏖️👍🏽\t\n"
)


def _strings() -> list[str]:
    rng = random.Random(5)
    texts = [
        "",
        "   ",
        "a photo of a dog.",
        "Café  crème &amp; naïve &lt;b&gt;",
        "mojibake: Ã©tÃ© â€œquotedâ€\x9d",
        "don't, can't, it'll, we've, I'm, you'd, she's",
        "<start_of_text> within <end_of_text> text",
        "x" * 400,
        "word " * 60,
        "3.14159 2024-06-01 12:30 #hashtag @user https://example.com/a?b=c",
    ]
    texts += [f"a photo of {w}." for w in VOCABULARY]
    ascii_ = [chr(i) for i in range(128)]  # incl. control codes, escapes, '&' entities
    for _ in range(600):
        n = rng.randint(1, 40)
        texts.append("".join(rng.choice(_ALPHABET) for _ in range(n)))
        texts.append("".join(rng.choice(ascii_) for _ in range(n)))
        texts.append(rng.choice(["&amp;", "&lt;3", "&#39;", "a\x1b[31mred", "\x7f"]) + texts[-1])
    return texts


def test_tokenizer_matches_open_clip_token_for_token(tiny_spec: str) -> None:
    import open_clip

    texts = _strings()
    ours = tokenizer_for("pretrained", "ViT-B-32")
    assert ours is not None
    np.testing.assert_array_equal(ours(texts), open_clip.get_tokenizer("ViT-B-32")(texts).numpy())
    spec = ModelSpec.parse(tiny_spec)  # context length 24: truncation keeps the end token
    tiny = tokenizer_for(spec.kind, spec.name)
    assert tiny is not None and tiny.context_length == 24
    np.testing.assert_array_equal(tiny(texts), open_clip.get_tokenizer(str(spec))(texts).numpy())


def test_tokenizer_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from photosorter.core.model.tokenizer import tokenizer_for\n"
        "tokenizer_for('pretrained', 'ViT-B-32')(['a photo of a dog'])\n"
        "print(sorted(m for m in ('torch', 'open_clip') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_with_other_tokenizers_are_left_to_open_clip(tmp_path: Path) -> None:
    assert tokenizer_for("pretrained", "ViT-B-16-SigLIP") is None
    assert tokenizer_for("pretrained", "no-such-model") is None
    assert tokenizer_for("hf-hub", "org/name") is None
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "open_clip_config.json").write_text(
        '{"model_cfg": {"text_cfg": {"hf_tokenizer_name": "bert-base-uncased"}}}'
    )
    assert tokenizer_for("local-dir", str(hf)) is None


def test_exported_text_tower_matches_torch_and_needs_no_torch(tiny_spec: str) -> None:
    engine = Engine(tiny_spec, "cpu")
    assert text_tower.TextTower.open(engine.spec, engine.model_id) is None  # not exported yet
    texts = ["red", "a photo of a blue circle.", "Fotoğraf 写真", "", "word " * 40]
    first = text_tower.encode_texts(engine, texts)  # torch answers, then exports
    xml = text_tower.tower_dir(engine.model_id) / text_tower.IR_NAME
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    tower = text_tower.TextTower.open(engine.spec, engine.model_id)
    assert tower is not None
    fast = tower.encode(texts)
    reference = engine.encode_texts(texts)
    np.testing.assert_array_equal(first, reference)
    assert float(np.min(np.sum(fast * reference, axis=1))) >= 0.999
    fresh = Engine(tiny_spec, "cpu")  # the next query: no torch, no model load
    fresh.load = lambda *a, **k: pytest.fail("the model was loaded")  # type: ignore[method-assign]
    np.testing.assert_allclose(text_tower.encode_texts(fresh, texts), fast, atol=1e-6)


def test_an_export_that_disagrees_with_torch_is_not_used(tiny_spec: str, monkeypatch) -> None:
    engine = Engine(tiny_spec, "cpu")
    real = engine.encode_texts
    monkeypatch.setattr(engine, "encode_texts", lambda texts: -real(texts))
    assert text_tower.export_text_tower(engine) is None
    assert text_tower.TextTower.open(engine.spec, engine.model_id) is None
    monkeypatch.setattr(engine, "encode_texts", real)
    assert text_tower.export_text_tower(engine) is None  # the verdict is kept: not retried
