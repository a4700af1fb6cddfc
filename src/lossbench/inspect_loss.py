"""`lossbench inspect-loss`: a loss's theoretical properties, measured numerically (never declared).

For one loss config (any `loss=...` with its `loss.*` values, a path `loss=pkg.module:Name`, a
plugin) or every shipped loss (`--all`), each property is a measurement on float64 inputs unless
said otherwise:

  finite      value and gradient finite for logits of scale 1, 1e2 and 1e4 (|z| up to 1e4), in float32
              and under bf16 autocast (CPU), for batch 1 and 8, C = 2 and 1000;
  gradcheck   torch.autograd.gradcheck in float64 (N = 4, C = 5, logits of scale 2);
  proper      for 20 class-probability vectors p (C = 5, Dirichlet(1), seeded) the expected loss
              sum_k p_k l(z, k) is minimised over z (LBFGS, float64, from z = 0); properness_error is
              max |q - p| over the draws, q = softmax of the loss's evaluation logits at z* (what the
              metrics see: LDAM's scaled logits, LegendreTron's link, post-hoc adjustment; z* itself
              for the others); proper when below 1e-3. For a prior-dependent
              loss the target is p reweighted by the training prior, p/pi normalised (where a logit-
              adjusted loss's softmax(z*) lands when it is proper in the adjusted logits);
  calibrated  argmax q = argmax of that target for every draw whose top two probabilities
              differ by 0.05 or more (classification calibration, Zhang 2004; Tewari & Bartlett 2007);
  symmetric   sum_k l(z, k) constant over 100 random z (relative spread below 1e-6): the condition
              for robustness to symmetric label noise (Ghosh, Kumar & Sastry, AAAI 2017);
  bounded     l at target-logit margins -10, -1e2, -1e3, -1e4 (C = 2, the other logit 0) converges:
              the last two agree within 1e-3 relative (CE grows without bound). Two classes: with more,
              NCE's limit is approached as 1/margin (0.9945 and 0.99945 at -1e3 and -1e4, C = 5);
  prior_dependent  the value changes when the class counts do (it reads the training prior);
  time_vs_ce, memory_vs_ce  forward + backward time (median of repeats) and the bytes the autograd
              graph saves for backward, at N = 256, C = 100 in float32, over F.cross_entropy's.

The expected loss uses each example's own loss (ClassificationLoss.sample_losses: the per-sample
loss with logit_clip and logz_penalty); a batch term (LADE, MMCE, MDCA, ANL's weight penalty) is a
property of a batch, not of one example, and is left out there (`batch_term` in the output). A loss
with inputs beyond the logits gets fixed ones: features of ones, the example's index (ELR's
targets, zero at the start), a small linear model. Schedules are switched on (set_epoch(10**6):
DRW, IB's start epoch), and the loss is in eval mode (ELR's targets stay fixed; EQL draws are
seeded per call).
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PROPER_TOL = 1e-3
SYMMETRIC_TOL = 1e-6
BOUNDED_TOL = 1e-3
MARGINS = (-10.0, -1e2, -1e3, -1e4)
DRAWS, PROPER_C = 20, 5
MAX_EXAMPLES = 1024  # the largest batch any measurement makes (a loss with per-example state is sized for it)
KEYS = ("finite", "gradcheck", "proper", "properness_error", "calibrated", "symmetric", "symmetric_spread",
        "bounded", "prior_dependent", "time_vs_ce", "memory_vs_ce", "batch_term")


def long_tail_counts(num_classes: int, ratio: float = 10.0) -> list[int]:
    """Training counts from 1000 down to 1000/ratio, exponentially (the LDAM-DRW profile)."""
    return [max(1, round(1000 * ratio ** (-i / max(1, num_classes - 1)))) for i in range(num_classes)]


Factory = Callable[..., nn.Module]  # factory(num_classes, class_counts) -> loss


def loss_inputs(loss: nn.Module, n: int, dtype) -> dict:
    needs = getattr(loss, "needs", frozenset())
    out = {}
    if "features" in needs:
        out["features"] = torch.ones(n, 4, dtype=dtype)
    if "indices" in needs:
        out["indices"] = torch.arange(n)
    if "model" in needs:
        seed_cpu(0)
        out["model"] = nn.Linear(2, 2)
    return out


def seed_cpu(seed: int) -> None:
    """Seed the CPU's global generator, the one every measurement here draws from. Not torch.manual_seed:
    that also queues a CUDA seeding call with its stack trace (0.8 ms a call), a third of the time of
    `inspect-loss --all`, which seeds before every one of its ~20,000 objective evaluations."""
    torch.default_generator.manual_seed(seed)


def ready_loss(factory: Factory, num_classes: int, counts: list[int] | None = None, *,
               float64: bool = False) -> nn.Module:
    """The loss at C = num_classes, schedules on, in eval mode. A loss with parameters of its own
    draws them from a fixed seed (the same loss in every measurement), and with float64=True it
    computes in float64 (a learned link computes in its parameters' dtype)."""
    from lossbench.losses.base import learned_parameters

    seed_cpu(0)
    loss = factory(num_classes, counts or long_tail_counts(num_classes))
    if float64 and learned_parameters(loss):
        loss = loss.double()
    if hasattr(loss, "set_epoch"):
        loss.set_epoch(10 ** 6)
    if "indices" in getattr(loss, "needs", ()):
        loss.bind_training_set(num_samples=MAX_EXAMPLES)
    return loss.eval()


def _per_example(loss: nn.Module, z: Tensor, y: Tensor) -> Tensor:
    """Each example's loss [N]: sample_losses where the loss has it, else one call per example."""
    inputs = loss_inputs(loss, len(y), z.dtype)
    seed_cpu(0)  # EQL's draws: the same in every call
    return loss.sample_losses(z, y, **inputs)


def mean_loss(loss: nn.Module, z: Tensor, y: Tensor) -> Tensor:
    inputs = loss_inputs(loss, len(y), z.dtype)
    seed_cpu(0)
    return loss(z, y, **inputs)


def finite(factory: Factory, sizes: tuple[int, ...] = (2, 1000)) -> bool:
    g = torch.Generator().manual_seed(1)
    for c in sizes:
        loss = ready_loss(factory, c)
        for n in (1, 8):
            for scale in (1.0, 1e2, 1e4):
                base = torch.randn(n, c, generator=g) * scale
                y = torch.randint(0, c, (n,), generator=g)
                for autocast in (False, True):
                    z = base.clone().requires_grad_(True)
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                        value = mean_loss(loss, z.to(torch.bfloat16) if autocast else z, y)
                    (grad,) = torch.autograd.grad(value, z)
                    if not (torch.isfinite(value).all() and torch.isfinite(grad).all()):
                        return False
    return True


def gradcheck(factory: Factory, c: int = PROPER_C) -> bool:
    loss = ready_loss(factory, c, float64=True)
    g = torch.Generator().manual_seed(2)
    z = (torch.randn(4, c, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    y = torch.randint(0, c, (4,), generator=g)
    try:
        return bool(torch.autograd.gradcheck(lambda t: mean_loss(loss, t, y), (z,), eps=1e-6, atol=1e-5, rtol=1e-4,
                                             raise_exception=False))
    except RuntimeError:
        return False


def _expected_loss_minimisers(loss: nn.Module, p: Tensor) -> Tensor:
    """z* [D, C] minimising sum_k p_dk l(z_d, k) for each draw d (one LBFGS over all draws: the sum
    is separable)."""
    d, c = p.shape
    z = torch.zeros(d, c, dtype=torch.float64, requires_grad=True)
    targets = torch.arange(c).repeat(d)
    weights = p.reshape(-1)
    optimizer = torch.optim.LBFGS([z], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                                  history_size=50, line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        value = (weights * _per_example(loss, z.repeat_interleave(c, dim=0), targets)).sum()
        value.backward()
        return value

    for _ in range(4):
        optimizer.step(objective)
    return z.detach()


def properness(factory: Factory, prior_dependent: bool, c: int = PROPER_C) -> tuple[float, bool]:
    """(properness_error, calibrated)."""
    counts = long_tail_counts(c)
    loss = ready_loss(factory, c, counts, float64=True)
    g = torch.Generator().manual_seed(3)
    p = _dirichlet(g, DRAWS, c)
    target = p
    if prior_dependent:
        prior = torch.tensor(counts, dtype=torch.float64)
        target = p / prior
        target = target / target.sum(dim=1, keepdim=True)
    z = _expected_loss_minimisers(loss, p)
    adjust = getattr(loss, "adjust_eval_logits", None)
    with torch.no_grad():
        q = torch.softmax(z if adjust is None else adjust(z), dim=1)
    error = float((q - target).abs().max()) if torch.isfinite(q).all() else math.inf
    top2 = target.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) >= 0.05
    calibrated = bool((q.argmax(dim=1)[clear] == target.argmax(dim=1)[clear]).all())
    return error, calibrated


def _dirichlet(g: torch.Generator, n: int, c: int) -> Tensor:
    """Dirichlet(1) draws from a seeded generator: normalised exponentials."""
    e = -torch.log(torch.rand(n, c, generator=g, dtype=torch.float64))
    return e / e.sum(dim=1, keepdim=True)


def symmetric(factory: Factory, c: int = PROPER_C) -> tuple[float, bool]:
    """(relative spread of sum_k l(z, k) over 100 z, symmetric)."""
    loss = ready_loss(factory, c, float64=True)
    g = torch.Generator().manual_seed(4)
    z = torch.randn(100, c, generator=g, dtype=torch.float64) * 3
    with torch.no_grad():
        values = _per_example(loss, z.repeat_interleave(c, dim=0), torch.arange(c).repeat(100))
    sums = values.reshape(100, c).sum(dim=1)
    spread = float((sums.max() - sums.min()) / sums.abs().mean().clamp_min(1e-300))
    return spread, spread < SYMMETRIC_TOL


def bounded(factory: Factory, c: int = 2) -> bool:
    loss = ready_loss(factory, c, float64=True)
    z = torch.zeros(len(MARGINS), c, dtype=torch.float64)
    z[:, 0] = torch.tensor(MARGINS, dtype=torch.float64)
    with torch.no_grad():
        values = _per_example(loss, z, torch.zeros(len(MARGINS), dtype=torch.long))
    if not torch.isfinite(values).all():
        return False
    last, before = float(values[-1]), float(values[-2])
    return abs(last - before) <= BOUNDED_TOL * max(abs(last), 1e-12)


def is_prior_dependent(factory: Factory, c: int = PROPER_C) -> bool:
    g = torch.Generator().manual_seed(5)
    z = torch.randn(16, c, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, c, (16,), generator=g)
    with torch.no_grad():
        a = mean_loss(ready_loss(factory, c, long_tail_counts(c, 10.0), float64=True), z, y)
        b = mean_loss(ready_loss(factory, c, long_tail_counts(c, 100.0), float64=True), z, y)
    return not torch.allclose(a, b, rtol=1e-12, atol=0)


def _saved_bytes(fn) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def cost_vs_ce(factory: Factory, repeats: int = 20, c: int = 100) -> tuple[float, float]:
    """(time, saved bytes) of forward + backward over F.cross_entropy's, N = 256, C = 100, float32."""
    loss = ready_loss(factory, c)
    g = torch.Generator().manual_seed(6)
    base = torch.randn(256, c, generator=g)
    y = torch.randint(0, c, (256,), generator=g)
    inputs = loss_inputs(loss, 256, torch.float32)

    def run(fn):
        z = base.clone().requires_grad_(True)
        fn(z).backward()

    ours = lambda z: loss(z, y, **inputs)  # noqa: E731
    ce = lambda z: F.cross_entropy(z, y)  # noqa: E731
    times = {}
    for name, fn in (("ours", ours), ("ce", ce)):
        run(fn)  # warm-up
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(fn)
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples)
    saved = {name: _saved_bytes(lambda fn=fn: fn(base.clone().requires_grad_(True)))
             for name, fn in (("ours", ours), ("ce", ce))}
    return times["ours"] / times["ce"], saved["ours"] / max(saved["ce"], 1)


def inspect(factory: Factory, num_classes: int | None = None) -> dict:
    """Every property of the loss `factory(num_classes, class_counts)` builds (KEYS). With
    `num_classes` (a trained run's loss, whose learned parameters fix C) every measurement is at
    that C; without, at the sizes above."""
    c = num_classes
    prior = is_prior_dependent(factory, c or PROPER_C)
    error, calibrated = properness(factory, prior, c or PROPER_C)
    spread, sym = symmetric(factory, c or PROPER_C)
    time_ratio, memory_ratio = cost_vs_ce(factory, c=c or 100)
    from lossbench.losses.base import ClassificationLoss

    has_batch_term = type(ready_loss(factory, c or PROPER_C)).batch_term is not ClassificationLoss.batch_term
    return {"finite": finite(factory, (c,) if c else (2, 1000)), "gradcheck": gradcheck(factory, c or PROPER_C),
            "proper": error < PROPER_TOL, "properness_error": error, "calibrated": calibrated, "symmetric": sym,
            "symmetric_spread": spread, "bounded": bounded(factory, c or 2), "prior_dependent": prior,
            "time_vs_ce": time_ratio, "memory_vs_ce": memory_ratio, "batch_term": has_batch_term}



# What a loss's paper says of a property this command measures, where it says so plainly: the
# table marks a measurement that disagrees.
PAPER_CLAIMS = {
    "ce": {"proper": True},                                        # strictly proper (log loss)
    "brier": {"proper": True},                                     # strictly proper (Brier 1950)
    "mae": {"symmetric": True, "bounded": True},                   # Ghosh, Kumar & Sastry, AAAI 2017
    "nce": {"symmetric": True},                                    # Ma et al., ICML 2020 (normalised losses)
    "nce_rce": {"symmetric": True},                                # Ma et al., ICML 2020 (APL, both terms)
    "gce": {"bounded": True, "symmetric": False},                  # Zhang & Sabuncu, NeurIPS 2018
    "legendretron": {"proper": True},                              # Lam et al., ICML 2023 (at any fixed link)
}


def paper_disagreements(name: str, measured: dict) -> list[str]:
    """The properties `name`'s paper states that the measurement contradicts."""
    return [f"{key}: paper {'yes' if claim else 'no'}, measured {'yes' if measured[key] else 'no'}"
            for key, claim in PAPER_CLAIMS.get(name, {}).items() if measured.get(key) is not claim]


def yes(value: bool) -> str:
    return "yes" if value else "no"


TABLE_HEADER = ["loss", "finite", "gradcheck", "proper (error)", "calibrated", "symmetric", "bounded",
                "prior-dependent", "memory vs CE", "batch term", "paper"]


def table_cells(name: str, r: dict, with_time: bool = False) -> list[str]:
    # below 1e-6 the minimiser's error is LBFGS's tolerance, not the loss's: its digits vary by CPU
    error = "<1e-6" if r["properness_error"] < 1e-6 else f"{r['properness_error']:.1e}"
    cells = [name, yes(r["finite"]), yes(r["gradcheck"]), f"{yes(r['proper'])} ({error})",
             yes(r["calibrated"]), yes(r["symmetric"]), yes(r["bounded"]), yes(r["prior_dependent"]),
             f"{r['memory_vs_ce']:.2f}x", "left out" if r["batch_term"] else "-"]
    claims = PAPER_CLAIMS.get(name)
    cells.append("; ".join(paper_disagreements(name, r)) or ("agrees" if claims else "-"))
    if with_time:
        cells.insert(-2, f"{r['time_vs_ce']:.1f}x")
    return cells


def markdown(results: dict[str, dict]) -> str:
    """docs/LOSS_PROPERTIES.md: every shipped loss at its defaults (timings are left out: they are
    this machine's; `lossbench inspect-loss loss=NAME` prints them)."""
    rows = [table_cells(name, r) for name, r in results.items()]
    lines = ["# Loss properties, measured", "",
             "Written by `lossbench inspect-loss --all --markdown` (a test fails when it is stale). Each loss at its "
             "config's defaults (C = 5, a long-tailed prior 1000..100 where it reads class counts); what each "
             "column measures is in `src/lossbench/inspect_loss.py` and the README. `proper (error)`: the largest "
             "|q - target| over 20 class distributions, q the softmax of the loss's evaluation logits at its "
             "expected-loss minimiser (target p, or p reweighted by the training prior for a prior-dependent "
             "loss); proper below 1e-3. `batch term`: "
             "the loss has a term of the whole batch, left out of the per-example measurements. `paper`: "
             "where the loss's paper states one of these properties, whether the measurement agrees.", "",
             "| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"
