"""benchmarks.paper_ablation on a replicated paper sweep's tables: one row per variant from its seed-pooled rows,
the between-variant differences, and an ordering that marks which steps the intervals resolve."""
from __future__ import annotations

import pandas as pd
import pytest


def _write(folder, diffs):
    trials = pd.DataFrame({"trial_id": ["t1", "t2", "t3"], "config/variant": ["hybrid", "triplet-only", "rsa-only"]})
    rows = []
    for tid, variant, acc in (("t1", "hybrid", 0.44), ("t2", "triplet-only", 0.43), ("t3", "rsa-only", 0.40)):
        model = f"{variant} {tid} (3 seeds)"
        rows.append((model, "ooo_acc_three_way", acc, acc - 0.02, acc + 0.02, None, 3, "seeds x videos"))
        rows.append((model, "ooo_acc_three_way", acc + 0.01, 0, 1, 7.0, 1, "videos"))  # a seed's own row
        rows.append((f"{variant} {tid} (single run)", "ooo_acc_three_way", 0.9, 0, 1, None, 1, "videos"))
    for tid, variant, other, value, low, high in diffs:
        rows.append((f"{variant} {tid} (3 seeds)", f"diff_vs_{other}_ooo_acc_three_way", value, low, high, None, 3,
                     "seeds x videos (p=0.01)"))
    metrics = pd.DataFrame(rows, columns=["model", "metric", "value", "ci_low", "ci_high", "seed", "seeds", "ci_over"])
    (folder / "analysis").mkdir()
    trials.to_parquet(folder / "results.parquet")
    metrics.to_parquet(folder / "analysis" / "metrics.parquet")


def test_the_ordering_marks_resolved_and_unresolved_steps(tmp_path):
    from benchmarks.paper_ablation import differences, ordering, pooled, variant_table

    _write(tmp_path, [("t1", "hybrid", "triplet-only", 0.01, -0.005, 0.025),
                      ("t2", "triplet-only", "rsa-only", 0.03, 0.01, 0.05),
                      ("t1", "hybrid", "rsa-only", 0.04, 0.02, 0.06)])
    rows = pooled(tmp_path)
    table = variant_table(rows)
    assert table["variant"].tolist() == ["hybrid", "triplet-only", "rsa-only"]  # seed means, not single runs
    assert table["ooo_acc_three_way"].iloc[0] == "0.440 [0.420, 0.460]" and table["seeds"].tolist() == [3, 3, 3]
    assert table["paper"].iloc[0] == "74.46%"
    assert ordering(table, differences(rows)) == "hybrid ~ triplet-only > rsa-only"


def test_a_sweep_without_replicates_is_refused_in_one_line(tmp_path, capsys):
    from benchmarks.paper_ablation import main

    _write(tmp_path, [])
    metrics = pd.read_parquet(tmp_path / "analysis" / "metrics.parquet")
    metrics[~metrics["ci_over"].str.startswith("seeds")].to_parquet(tmp_path / "analysis" / "metrics.parquet")
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no replicated model" in err[0]
