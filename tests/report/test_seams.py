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
