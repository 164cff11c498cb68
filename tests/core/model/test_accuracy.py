"""The accuracy benchmark (tests/fixtures/accuracy.py) at reduced size: targets hold."""

from __future__ import annotations

from tests.fixtures import accuracy


def test_open_set_and_examples_reach_their_targets(tiny_spec: str) -> None:
    r = accuracy.measure(tiny_spec, per_combo=2, repeats=1, every=5)
    shots = r["shots"]
    assert shots["made-up names for shapes"][4] >= accuracy.TARGETS["made_up_4_shots"]
    for task in ("colour prompts", "shape prompts"):
        assert min(shots[task].values()) >= shots[task][0] - 0.01  # never (much) worse
    for mode in r["open_set"].values():
        for kind in mode.values():
            assert kind["keep_min"] >= accuracy.TARGETS["open_keep"]
            assert kind["reject_mean"] >= accuracy.TARGETS["open_reject"]
