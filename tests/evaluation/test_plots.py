"""The figures' readability rule (docs/README.md): text of 9 points or more, saved at 100 dpi."""

import pytest
from PIL import Image

from kerasnlp_lab.evaluation import plots


def test_a_figure_with_small_text_is_refused_and_not_written(tmp_path):
    figure, axes = plots.plt.subplots(figsize=(3, 2))
    axes.set_xticks([0, 1], ["a", "b"], fontsize=8)
    path = tmp_path / "small.png"
    with pytest.raises(ValueError, match=r"at 9 pt or more; received 2 smaller: 'a' \(8 pt\)"):
        plots.save_figure(figure, str(path))
    assert not path.exists()


def test_a_readable_figure_is_saved_at_the_rule_s_dpi(tmp_path):
    figure, axes = plots.plt.subplots(figsize=(3, 2))
    axes.plot([0, 1], [1, 0], label="line")
    axes.legend(fontsize=plots.MIN_FONT_POINTS)
    axes.set_title("")  # empty texts are not counted
    path = plots.save_figure(figure, str(tmp_path / "ok.png"))
    with Image.open(path) as image:
        assert image.info["dpi"][0] == pytest.approx(plots.DPI, abs=0.01)
        assert image.width <= plots.PAGE_WIDTH
