"""report/ depends on nothing in sweep/ (sweep/ calls the report, never the other way round)."""
from __future__ import annotations

import subprocess
import sys


def test_the_report_package_imports_nothing_from_sweep():
    code = ("import sys, lossbench.report, lossbench.report.collect, lossbench.report.aggregate, "
            "lossbench.report.compare, lossbench.report.tables, lossbench.report.markdown, lossbench.report.plots, "
            "lossbench.summary; print(sorted(m for m in sys.modules if m.startswith('lossbench.sweep')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_report_module_names_sweep_even_in_a_function():
    """Catches the lazy imports a module-level import check misses."""
    from pathlib import Path

    import lossbench.report

    sources = [*Path(lossbench.report.__file__).parent.glob("*.py"),
               Path(lossbench.report.__file__).parents[1] / "summary.py"]
    assert len(sources) >= 8
    offenders = [p.name for p in sources if "lossbench.sweep" in p.read_text() or "from . import sweep" in p.read_text()]
    assert offenders == []
