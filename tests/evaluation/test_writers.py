"""Tests for spinetumor.evaluation.writers: wide tables as TSV, LaTeX and Markdown."""

from __future__ import annotations

import pandas as pd
import pytest

from spinetumor.evaluation.lemay import lemay_table
from spinetumor.evaluation.stanford import stanford_table, stanford_table_numeric
from spinetumor.evaluation.writers import to_latex_booktabs, to_markdown, to_tsv
from tests.evaluation.evaluation_tables import per_case_table


@pytest.fixture
def per_case() -> pd.DataFrame:
    return per_case_table()


def test_writers_tsv_latex_markdown(tmp_path, per_case):
    table = lemay_table(per_case, "A")
    tsv = to_tsv(table, tmp_path / "t.tsv").read_text().splitlines()
    assert tsv[0] == "metric (%)\twhole\ttumour\tcavity\tedema"
    assert tsv[1] == "Dice\t65.0 ± 7.1\t47.5 ± 3.5\tn/a\t40.0"

    latex = to_latex_booktabs(table, tmp_path / "t.tex", caption="Dice in % (mean ± std)", label="tab:lemay")
    text = latex.read_text()
    assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text
    assert r"metric (\%) & whole & tumour & cavity & edema \\" in text
    assert r"Dice & 65.0 $\pm$ 7.1 & 47.5 $\pm$ 3.5 & n/a & 40.0 \\" in text
    assert r"\caption{Dice in \% (mean $\pm$ std)}" in text
    assert "±" not in text

    numeric = to_tsv(stanford_table_numeric(per_case, "A"), tmp_path / "n.tsv").read_text().splitlines()
    assert numeric[1] == "0\t2\t1\t50\t0.4\t0.565685\t0.8\tn/a"  # floats to 6 significant digits

    stanford = stanford_table(per_case, "A")
    markdown = to_markdown(stanford, tmp_path / "s.md").read_text().splitlines()
    assert markdown[0] == "| split | n_cases | sensitivity | mean_dice | tp_mean_dice |"
    assert markdown[1] == "|---|---|---|---|---|"
    assert markdown[-1] == "| average | 5 | 75.0 % | 0.45 ± 0.33 | 0.65 ± 0.10 |"
    assert len(markdown) == 5
