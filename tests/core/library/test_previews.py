from photosorter.core.library.previews import choose_preview


def test_the_largest_preview_of_the_same_frame_is_chosen():
    candidates = [(160, 120), (1620, 1080), (1024, 683), (4000, 3000)]
    # 6000x4000 is 3:2: the 4:3 ones are another frame; 1620x1080 beats 1024x683
    assert choose_preview(candidates, (6000, 4000), 224) == 1


def test_a_preview_below_the_model_input_or_cropped_is_refused():
    assert choose_preview([(160, 120)], (4000, 3000), 224) is None
    assert choose_preview([(1600, 1000)], (6000, 4000), 224) is None  # 1.6 vs 1.5
    assert choose_preview([], (6000, 4000), 224) is None
    assert choose_preview([(1620, 1080)], (0, 0), 224) is None


def test_aspect_tolerance_is_one_percent():
    assert choose_preview([(1500, 1000)], (1510, 1000), 224) == 0  # 0.66 % off
    assert choose_preview([(1500, 1000)], (1530, 1000), 224) is None  # 2 % off
