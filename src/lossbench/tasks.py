"""The tasks a job can be: the data module declares one (`task`), the loss the ones it fits (`tasks`).

  multiclass  one label in 0..C-1 per example; the model has C outputs (logits)
  binary      a label 0 or 1 per example; the model has one output, the score s (P(y = 1) = sigmoid(s))
  multilabel  a set of labels per example, multi-hot [N, C]; C outputs with a sigmoid each

A loss composed with a task it does not fit is the user's input error: one paragraph naming the
losses that fit."""
from __future__ import annotations

from lossbench.errors import UsageError

TASKS = ("multiclass", "binary", "multilabel")


def model_outputs(task: str, num_classes: int) -> int:
    """How many scores the model gives per example."""
    return 1 if task == "binary" else num_classes


def check_loss_fits(loss, task: str, data_name: str) -> None:
    """UsageError when `loss` (a built loss, its class, or None: a multi-class plain loss) does not
    declare `task` among its tasks."""
    from lossbench.losses import list_losses

    tasks = getattr(loss, "tasks", None) or frozenset({"multiclass"})
    if task in tasks:
        return
    name = getattr(loss, "name", None) or "external"
    raise UsageError(f"loss={name} is a loss for {' and '.join(sorted(tasks))} tasks, and data={data_name} is a "
                     f"{task} task. Losses that fit it: {', '.join(list_losses(task))} "
                     f"(`lossbench list losses --task {task}`).")
