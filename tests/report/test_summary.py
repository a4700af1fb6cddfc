"""The run summary (`lossbench train`, `lossbench train -m`): every number in full at 80 columns, and
runs labelled by what sets them apart (three loss.gamma values: three labelled rows)."""
from __future__ import annotations

from rich.console import Console

from lossbench.summary import print_table, run_labels


def _result(gamma: float, seed: int, acc: float, status: str = "completed") -> dict:
    block = {"epoch": 29, "test_acc": acc, "test_balanced_acc": acc - 0.0123, "test_many_acc": 1.0,
             "test_medium_acc": 0.93831, "test_few_acc": 0.0494, "test_ece": 0.15234, "test_nll": 1.07391}
    res = {"status": status, "loss": "focal", "data": "digits_lt", "seed": seed,
           "overrides": ["loss=focal", f"loss.gamma={gamma}", "trainer.max_epochs=30", f"seed={seed}",
                         "trainer.enable_progress_bar=false"]}
    if status == "completed":
        res.update(final=block, best={**block, "epoch": 12})
    else:
        res["error"] = "RuntimeError: CUDA out of memory"
    return res


def _printed(results, width=80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    print_table(results, "lossbench multirun: test metrics", console)
    return console.export_text()


def test_three_gamma_values_are_three_labelled_runs():
    results = [_result(g, 0, 0.7) for g in (0.5, 1.0, 2.0)]
    assert run_labels(results) == ["focal gamma=0.5", "focal gamma=1.0", "focal gamma=2.0"]
    # an override that differs between runs joins the label; one they share, or the seed, does not
    mixed = [_result(1.0, 0, 0.7), {**_result(1.0, 1, 0.7), "overrides": ["loss=focal", "loss.gamma=1.0",
                                                                          "trainer.max_epochs=5", "seed=1"]}]
    assert run_labels(mixed) == ["focal gamma=1.0 trainer.max_epochs=30", "focal gamma=1.0 trainer.max_epochs=5"]


def test_every_number_is_whole_at_80_columns():
    results = [_result(0.5, 0, 0.68272), _result(1.0, 1, 0.70944), _result(2.0, 0, 0.0, status="failed")]
    text = _printed(results)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    # acc 68.27 / 70.94, bal 67.04, many 100.00, med 93.83, few 4.94, ECE 15.23, NLL 1.074; epochs 29 and 12
    for cell in ("68.27", "70.94", "67.04", "100.00", "93.83", "4.94", "15.23", "1.074"):
        assert cell in text
    lines = text.splitlines()
    final = next(line for line in lines if " final " in line and "68.27" in line)
    assert final.split()[-7:] == ["68.27", "67.04", "100.00", "93.83", "4.94", "15.23", "1.074"]
    assert any(line.split()[-9:-7] == ["best", "12"] for line in lines)
    assert "gamma=0.5" in text and "gamma=1.0" in text and "(digits_lt)" in text
    assert "focal gamma=2.0 seed 0: RuntimeError: CUDA out of memory" in text
