"""The book's one table style: units in headers, per-cell formats, missing values shown as a dash."""

import numpy as np
import pandas as pd

from xlstm_lab.plots.tables import show


def test_scale_formats_rename_and_missing():
    df = pd.DataFrame(
        {"alpha_eff": [1.23456e14, None], "N_opt": [1.234567e8, np.nan], "r": [0.0123, 0.5], "tag": ["x", "y"]}
    )
    html = show(df, 3, scale={"N_opt": (1e6, "M")}, formats={"r": "{:.1%}"}, rename={"alpha_eff": "α_eff"}).to_html()
    assert "N_opt [M]" in html and "123" in html and "123.4567" not in html  # scaled, 3 significant digits
    assert "1.2%" in html and "50.0%" in html  # explicit format wins over digits
    assert "α_eff" in html and "alpha_eff" not in html
    assert html.count("–") == 2  # None and NaN
    assert 'class="dataframe"' in html


def test_index_hidden_by_default_and_input_untouched():
    df = pd.DataFrame({"a": [1.0]}, index=["row-label"])
    assert "row-label" not in show(df).to_html()
    assert "row-label" in show(df, index=True).to_html()
    assert df["a"].iloc[0] == 1.0
