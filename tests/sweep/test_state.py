"""sweep/state.py: the one place that says a sweep job's state, and whether it has ended."""
from __future__ import annotations

import pytest

from lossbench.results import STATUSES
from lossbench.sweep import state

OVERRIDES = ["data=synthetic", "loss=ce", "seed=0"]


def _record(status, overrides=OVERRIDES):
    return {"status": status, "sweep": {"overrides": list(overrides)}}


@pytest.mark.parametrize("status,claim_live,expected", [
    ("completed", False, "done"), ("completed", True, "done"),
    ("running", True, "running"), ("interrupted", True, "running"), ("failed", True, "running"),
    ("running", False, "interrupted"),  # its process died without a word
    ("interrupted", False, "interrupted"), ("failed", False, "failed"), (None, False, "pending"),
])
def test_job_state(status, claim_live, expected):
    record = _record(status) if status else None
    assert state.job_state(record, OVERRIDES, claim_live) == expected


def test_a_completed_record_of_other_overrides_is_pending_not_done():
    record = _record("completed", ["data=synthetic", "loss=focal", "seed=0"])
    assert not state.is_done(record, OVERRIDES)
    assert state.job_state(record, OVERRIDES, claim_live=False) == "pending"


def test_ended_and_final_cover_the_record_statuses():
    ended = {s for s in STATUSES if state.has_ended({"status": s})}
    final = {s for s in STATUSES if state.is_final({"status": s})}
    assert ended == {"completed", "failed", "interrupted"}  # an interrupted job no longer blocks the report
    assert final == {"completed", "failed"}  # an interrupted SLURM job may requeue itself
    for outcome in (state.held_outcome("host:1", "/j"), state.pending_outcome("/j", {}, 0), None, {}):
        assert not state.has_ended(outcome) and not state.is_final(outcome) and state.status_of(outcome) is None
    assert state.is_held(state.held_outcome("host:1", "/j")) and not state.is_held(_record("completed"))


def test_the_report_waits_for_running_jobs_and_not_for_interrupted_ones(tmp_path, monkeypatch):
    from lossbench.results import SWEEP_FILE, write_json
    from lossbench.sweep import runner

    written = []
    monkeypatch.setattr("lossbench.report.build_report", lambda sweep_dir, print_table: written.append(sweep_dir))
    write_json(tmp_path / SWEEP_FILE, {"jobs": [{"job": "a"}, {"job": "b"}]})
    write_json(tmp_path / "a" / "results.json", _record("completed"))
    write_json(tmp_path / "b" / "results.json", _record("running"))
    assert not runner.report_if_sweep_ended(tmp_path) and written == []
    write_json(tmp_path / "b" / "results.json", _record("interrupted"))
    assert runner.report_if_sweep_ended(tmp_path) and written == [tmp_path]
