"""The loss registry: `@register_loss("name")` on a class, then `build_loss("name", ...)`.

Modelled on timm's model registry: every loss module registers its classes on import, and the
package `__init__` imports every loss module, so `list_losses()` is complete after
`import lossbench.losses`.
"""
from __future__ import annotations

import difflib

_LOSSES: dict[str, type] = {}


def register_loss(name: str):
    """Class decorator: make the loss available as `build_loss(name, ...)` and `loss=name`."""

    def decorator(cls):
        if name in _LOSSES and _LOSSES[name] is not cls:
            raise ValueError(f"loss {name!r} is registered twice ({_LOSSES[name].__qualname__}, {cls.__qualname__})")
        cls.name = name
        _LOSSES[name] = cls
        return cls

    return decorator


def list_losses(task: str | None = None) -> list[str]:
    """Sorted names of every registered loss, or of those that fit `task` (multiclass, binary, multilabel)."""
    return sorted(name for name, cls in _LOSSES.items() if task is None or task in cls.tasks)


def get_loss_class(name: str) -> type:
    try:
        return _LOSSES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _LOSSES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown loss {name!r}.{hint} Available: {', '.join(list_losses())}.") from None


def build_loss(name: str, **kwargs):
    """Build a registered loss. Keyword arguments are the loss's parameters plus `num_classes`,
    `class_counts` and the cross-cutting options of `ClassificationLoss`."""
    return get_loss_class(name)(**kwargs)
