"""The base class every loss derives from: per-sample loss + the cross-cutting options.

A subclass implements `per_sample(logits, targets) -> [N]`; the base class applies, in order:
  1. `logit_clip` (LogitClip, Wei et al., "Mitigating Memorization of Noisy Labels by Clipping the
     Model Prediction", ICML 2023): z <- z * min(1, clip / ||z||_2) per sample;
  2. the per-sample loss of the subclass;
  3. class re-weighting (`reweight`), optionally deferred (`reweight_from_epoch`, the DRW schedule
     of Cao et al. 2019): a weighted mean sum(w_y l) / sum(w_y), as F.cross_entropy(weight=...) does;
  4. `batch_term(logits, targets)`: a term of the whole batch (LADE's regulariser, MMCE, MDCA), added
     unweighted to the (weighted) mean; none by default. It sees the (clipped) logits;
  5. `logz_penalty`: + coeff * mean((log sum_j exp z_j)^2), the "z-loss" auxiliary term of
     large-model training (PaLM, Chowdhery et al. 2022); computed on the (clipped) logits.
A loss that needs more than the logits declares it in `needs` (a frozenset drawn from NEEDS_KEYS)
and is called as `loss(logits, targets, features=..., indices=..., model=...)` with exactly those
keywords (the training module, module.py, passes them): `features` the penultimate features
[N, D] (models expose `forward_features` and `head`), `indices` the training-set index of each
sample [N] (int64), `model` the network (for parameter penalties). `per_sample` and `batch_term`
then receive them as keywords too. Every other loss keeps `loss(logits, targets)`.
At evaluation, `adjust_eval_logits` applies post-hoc logit adjustment (Menon et al., "Long-tail
learning via logit adjustment", ICLR 2021): z - posthoc_tau * log(pi), identity when posthoc_tau = 0.

Logits are promoted to float32 (float64 stays float64), so bf16 autocast never computes the
loss in bf16. Everything is computed from log_softmax: never log(softmax(z)).
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

REWEIGHT_MODES = ("none", "class_balanced", "inverse")
NEEDS_KEYS = frozenset({"features", "indices", "model"})


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                *, low_open: bool = False, high_open: bool = False) -> float:
    """Raise a ValueError naming the parameter and its allowed range if `value` is outside it."""
    lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}={value!r} is not a number: it must be a number in {lo}, {hi}.")
    bad = ((low is not None and (value < low or (low_open and value == low)))
           or (high is not None and (value > high or (high_open and value == high))))
    if bad or value != value:  # NaN is never in range
        raise ValueError(f"{name}={value!r} is out of range: it must be in {lo}, {hi}.")
    return float(value)


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Raise a ValueError naming the parameter and its choices if `value` is not one of them."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}.")
    return value


def class_balanced_weights(class_counts: Tensor, beta: float) -> Tensor:
    """Cui et al. 2019: w_j = (1 - beta) / (1 - beta^n_j), normalised to sum to C."""
    effective_num = 1.0 - torch.pow(beta, class_counts)
    weights = (1.0 - beta) / effective_num
    return weights / weights.sum() * len(class_counts)


def inverse_frequency_weights(class_counts: Tensor) -> Tensor:
    """w_j = 1 / n_j, normalised to sum to C."""
    weights = 1.0 / class_counts
    return weights / weights.sum() * len(class_counts)


def learned_parameters(loss: nn.Module) -> list[nn.Parameter]:
    """The parameters a loss trains with the network (a learned link or temperature): its own
    optimizer group (module.py), checkpointed and synchronised under DDP like the model's."""
    return [p for p in loss.parameters() if p.requires_grad]


class ClassificationLoss(nn.Module):
    """Base of every lossbench loss: `loss(logits [N, C], targets [N] int64) -> scalar mean`.

    Keyword-only options shared by every loss:
      num_classes: C (>= 2).
      class_counts: training images per class; required where `needs_class_counts`, when
        re-weighting, or when posthoc_tau > 0; ignored otherwise.
      reweight: "none" | "class_balanced" (Cui et al. 2019, with `reweight_beta`) | "inverse".
      reweight_beta: beta of the class-balanced weights (0.9999, the LDAM-DRW value).
      reweight_from_epoch: weights off before this epoch, on from it (DRW); 0 = always on.
      logit_clip: L2-norm bound on each logit vector (None = off).
      logz_penalty: coefficient of the (log Z)^2 auxiliary term (0 = off).
      posthoc_tau: post-hoc logit adjustment at evaluation, z - tau log(pi) (0 = off).
      lr_scale, weight_decay: for a loss with parameters of its own (nn.Parameters, trained with the
        network): its optimizer group's lr, as a multiple of the optimizer's, and its weight decay.
        None takes the loss's declared defaults (the class attributes below); a loss without
        parameters refuses them (train.py).
    """

    name: str = "?"  # set by @register_loss
    #: The tasks this loss fits (lossbench.tasks.TASKS): the data module's task must be one of them.
    tasks: frozenset = frozenset({"multiclass"})
    needs_class_counts: bool = False
    #: Inputs beyond (logits, targets) this loss takes as keywords, a subset of NEEDS_KEYS.
    needs: frozenset = frozenset()
    #: Losses that are CE of transformed logits set this and implement `transform_logits`; the
    #: forward pass is then a single F.cross_entropy call (its own weighted mean included).
    is_cross_entropy: bool = False
    label_smoothing: float = 0.0
    #: Defaults a loss with parameters declares for its optimizer group (module.py: loss_param_groups).
    lr_scale: float = 1.0
    weight_decay: float = 0.0

    def __init__(self, *, num_classes: int, class_counts: Sequence[int] | None = None,
                 reweight: str = "none", reweight_beta: float = 0.9999, reweight_from_epoch: int = 0,
                 logit_clip: float | None = None, logz_penalty: float = 0.0, posthoc_tau: float = 0.0,
                 lr_scale: float | None = None, weight_decay: float | None = None, **unknown):
        super().__init__()
        if unknown:
            raise ValueError(self._unknown_message(sorted(unknown)))
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes={num_classes!r} is out of range: a classification loss needs an "
                             f"integer >= 2.")
        self.num_classes = int(num_classes)
        check_choice("reweight", reweight, REWEIGHT_MODES)
        check_range("reweight_beta", reweight_beta, 0.0, 1.0, high_open=True)
        check_range("reweight_from_epoch", reweight_from_epoch, 0)
        if logit_clip is not None:
            check_range("logit_clip", logit_clip, 0.0, low_open=True)
        self.reweight, self.reweight_beta = reweight, float(reweight_beta)
        self.reweight_from_epoch = int(reweight_from_epoch)
        self.logit_clip = None if logit_clip is None else float(logit_clip)
        self.logz_penalty = check_range("logz_penalty", logz_penalty, 0.0)
        self.posthoc_tau = check_range("posthoc_tau", posthoc_tau, 0.0)
        self.group_options_given = [k for k, v in (("lr_scale", lr_scale), ("weight_decay", weight_decay))
                                    if v is not None]
        if lr_scale is not None:
            self.lr_scale = check_range("lr_scale", lr_scale, 0.0, low_open=True)
        if weight_decay is not None:
            self.weight_decay = check_range("weight_decay", weight_decay, 0.0)
        self.epoch = 0

        # Class statistics are kept in float64 and cast to the logits' dtype where used.
        counts = None
        if self.needs_class_counts or reweight != "none" or self.posthoc_tau > 0:
            counts = self._checked_counts(class_counts)
        self.register_buffer("class_counts", counts, persistent=False)
        weights = None
        if reweight == "class_balanced":
            weights = class_balanced_weights(counts, self.reweight_beta)
        elif reweight == "inverse":
            weights = inverse_frequency_weights(counts)
        self.register_buffer("class_weights", weights, persistent=False)

    @classmethod
    def parameter_names(cls) -> list[str]:
        """Every keyword this loss accepts: its own parameters, then the shared options."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is nn.Module:
                continue
            for param in inspect.signature(init).parameters.values():
                if param.kind is param.KEYWORD_ONLY and param.name not in names:
                    names.append(param.name)
        return names

    def _unknown_message(self, unknown: list[str]) -> str:
        valid = self.parameter_names()
        hints = [f"{name!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(name, valid, n=1))
                 else repr(name) for name in unknown]
        return (f"loss {self.name!r} has no parameter {', '.join(hints)}; its parameters are: "
                f"{', '.join(valid)}.")

    def _checked_counts(self, class_counts) -> Tensor:
        why = ("it uses class frequencies" if self.needs_class_counts
               else f"reweight={self.reweight!r}" if self.reweight != "none"
               else f"posthoc_tau={self.posthoc_tau:g} > 0")
        if class_counts is None:
            raise ValueError(f"loss {self.name!r} needs class_counts (training images per class) because "
                             f"{why}; pass class_counts=[n_0, ..., n_{{C-1}}].")
        counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
        if counts.ndim != 1 or len(counts) != self.num_classes:
            raise ValueError(f"class_counts has {counts.numel()} entries but num_classes={self.num_classes}; "
                             f"pass one count per class.")
        if not torch.isfinite(counts).all() or (counts <= 0).any():
            bad = torch.nonzero(~(counts > 0) | ~torch.isfinite(counts)).flatten().tolist()
            raise ValueError(f"class_counts must be positive and finite, but classes {bad} are not (zero means no "
                             f"training images); loss {self.name!r} ({why}) cannot handle an empty class.")
        return counts

    @property
    def log_prior(self) -> Tensor:
        """log pi_j = log(n_j / sum n) in float64, for the losses that use class frequencies."""
        return torch.log(self.class_counts / self.class_counts.sum())

    def bind_training_set(self, *, num_samples: int) -> None:
        """Called by the training module before training with the size of the training set; losses
        with per-sample state (elr) size it here. A no-op for the others."""

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at the start of every epoch; drives DRW and other schedules."""
        self.epoch = int(epoch)

    def active_class_weights(self) -> Tensor | None:
        """The re-weighting weights in force at this epoch (None = plain mean)."""
        if self.class_weights is None or self.epoch < self.reweight_from_epoch:
            return None
        return self.class_weights

    def adjust_eval_logits(self, logits: Tensor) -> Tensor:
        """Post-hoc logit adjustment (google-research logit_adjustment, mode 'posthoc'):
        z - posthoc_tau * log(pi); the logits themselves when posthoc_tau = 0."""
        if self.posthoc_tau == 0:
            return logits
        return logits - self.posthoc_tau * self.log_prior.to(device=logits.device, dtype=logits.dtype)

    def transform_logits(self, logits: Tensor, targets: Tensor) -> Tensor:
        """For `is_cross_entropy` losses: the logits whose cross-entropy is the loss."""
        raise NotImplementedError

    def per_sample(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        """The loss of each sample, shape [N]; `inputs` are the keywords of `needs` (none by default)."""
        if self.is_cross_entropy:
            return F.cross_entropy(self.transform_logits(logits, targets), targets, reduction="none",
                                   label_smoothing=self.label_smoothing)
        raise NotImplementedError

    def reduce(self, losses: Tensor, targets: Tensor) -> Tensor:
        """Mean over the batch, or the weighted mean sum(w_y l) / sum(w_y) while weights are on."""
        weights = self.active_class_weights()
        if weights is None:
            return losses.mean()
        sample_weights = weights.to(losses.dtype)[targets]
        return (losses * sample_weights).sum() / sample_weights.sum()

    def batch_term(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor | None:
        """A loss term of the whole batch that is not a mean of per-sample terms (LADE's regulariser,
        MMCE's kernel sum, MDCA's class-wise gaps, ANL's parameter penalty), added unweighted after
        `reduce` (also after the fused weighted CE) and before `logz_penalty`; None (the default) adds
        nothing. `inputs` are the keywords of `needs`."""
        return None

    def _check_inputs(self, inputs: dict) -> None:
        if inputs.keys() != self.needs:
            needed = ", ".join(f"{k}=" for k in sorted(self.needs)) or "no keyword"
            got = ", ".join(f"{k}=" for k in sorted(inputs)) or "none"
            raise TypeError(f"loss {self.name!r} takes (logits, targets) and {needed}; got {got}.")

    def _prepared(self, logits: Tensor) -> Tensor:
        """The logits in float32 (float64 stays), clipped by `logit_clip`."""
        if logits.dtype != torch.float64:
            logits = logits.float()
        if self.logit_clip is not None:
            norms = torch.linalg.vector_norm(logits, dim=-1, keepdim=True).clamp_min(1e-12)
            logits = logits * (self.logit_clip / norms).clamp(max=1.0)
        return logits

    def sample_losses(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        """Each example's own loss [N], as `forward` has it before averaging: the per-sample loss of
        the clipped logits plus the (log Z)^2 term; no class weights and no batch term (those belong
        to a batch). What `lossbench inspect-loss` takes expectations of."""
        self._check_inputs(inputs)
        logits = self._prepared(logits)
        out = self.per_sample(logits, targets, **inputs)
        if self.logz_penalty:
            out = out + self.logz_penalty * torch.logsumexp(logits, dim=-1).pow(2)
        return out

    def forward(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        self._check_inputs(inputs)
        logits = self._prepared(logits)
        weights = self.active_class_weights()
        if self.is_cross_entropy and (weights is None or self.label_smoothing == 0):
            # One fused call; with weights it is the same weighted mean as `reduce`. (With label
            # smoothing PyTorch would weight the smoothing term by class, so `reduce` is used.)
            loss = F.cross_entropy(self.transform_logits(logits, targets), targets,
                                   weight=None if weights is None else weights.to(logits.dtype),
                                   label_smoothing=self.label_smoothing)
        else:
            loss = self.reduce(self.per_sample(logits, targets, **inputs), targets)
        extra = self.batch_term(logits, targets, **inputs)
        if extra is not None:
            loss = loss + extra
        if self.logz_penalty:
            loss = loss + self.logz_penalty * torch.logsumexp(logits, dim=-1).pow(2).mean()
        return loss

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, reweight={self.reweight!r}"
