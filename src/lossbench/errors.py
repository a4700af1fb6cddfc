"""User-facing errors: one paragraph on stderr, a non-zero exit, no traceback."""
from __future__ import annotations

import difflib
import sys

EXIT_USAGE = 2


class UsageError(ValueError):
    """Bad input from the user, wherever it is found (the command line, a config value, a dataset
    folder or file): the one exception class for user errors. The message is one paragraph naming
    the key or file and what to do; a job records it as error_type "config" and exits 2.
    A ValueError, so that code checking values the Python way (`except ValueError`) also sees it.
    This module imports nothing from lossbench: every layer (data, losses, job, CLI) may raise it."""


class TrainingDiverged(Exception):
    """The training (or validation) loss became NaN or infinite (error_type "diverged"): where, and
    what to try. `step` counts optimizer steps from 0 over the whole run."""

    def __init__(self, epoch: int, step: int, value: float, what: str = "training loss"):
        self.epoch, self.step, self.value, self.what = int(epoch), int(step), float(value), what
        super().__init__(f"training diverged: the {what} became {value} in epoch {self.epoch} (training step "
                         f"{self.step}). Try a lower learning rate (optimizer.lr), a warm-up "
                         f"(scheduler.warmup_epochs) or gradient clipping (trainer.gradient_clip_val).")


def closest_match(word: str, candidates) -> str | None:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return match[0] if match else None


def closest(word: str, candidates) -> str:
    """" Did you mean 'x'?" for the closest candidate, or "" if none is close."""
    match = closest_match(word, candidates)
    return f" Did you mean {match!r}?" if match else ""


def fail(message: str, code: int = EXIT_USAGE) -> "NoReturn":  # noqa: F821
    print(f"lossbench: error: {message}", file=sys.stderr)
    sys.exit(code)
