"""The chapter's lab half end to end on a tiny grid: measure, fit, terms, crossovers, charts that fit a phone."""

import numpy as np

from xlstm_lab.chapters import inference_measured as im
from xlstm_lab.inference import BenchGrid
from xlstm_lab.plots.inference_measured import measured_chart, measured_terms_chart, memory_chart


def test_lab_half_on_a_tiny_grid():
    grid = BenchGrid(("xlstm", "llama"), ("tiny", "mini"), (8, 32, 64), (1, 2))
    lab = im.measure_lab(grid, steps=2, repeats=1, warmup=0)
    assert len(lab.rows) == grid.n_points and lab.roofline.peak_flops > 0 and lab.roofline.bandwidth > 0
    fits = im.lab_fits(lab)
    assert set(fits) == {(f, k) for f in ("xlstm", "llama") for k in ("ttft", "step")}
    table = im.fit_table(fits, lab.roofline)
    ttft = table[table["phase"] == "TTFT"]
    assert np.allclose(ttft["fraction of peak"], ttft["fitted"] / lab.roofline.peak_flops)
    rows = lab.rows[(lab.rows["family"] == "llama") & (lab.rows["size"] == "tiny") & (lab.rows["batch"] == 1)]
    curves = im.term_curves(fits["llama", "step"], rows, "step", lab.roofline)
    by = curves.pivot_table(index="prompt_tokens", columns="series", values="time_ms")
    # the model is the sum of its drawn memory term and overhead (the memory form)
    np.testing.assert_allclose(by["model"], by["memory term"] + by["overhead"], rtol=1e-12)
    cross = im.crossover_table(lab, fits)
    assert len(cross) == 2 * 2 * 2
    mem = im.memory_table("tiny", (8, 64))
    assert mem["agree"].all()
    for chart in (measured_chart(lab.rows, "ttft", 1, "t"), measured_terms_chart(curves, "t"),
                  memory_chart(mem, "m")):
        spec = chart.to_dict()
        assert spec["width"] == "container" and "facet" not in spec and "hconcat" not in spec
