"""LegendreTron (losses/legendretron.py) against a float64 re-implementation of the authors' code
(khflam/legendretron at b313840: lib/icnn.py ICNN3 with PosLinear and ActNormNoLogdet,
lib/models.py DeepConvexFlow and LegendreLink, lib/functional.py log_softmax_plus), written here
in their layout (Wzs, Wxs, Wx2s, actnorms; the fan-in gain after the bias; ActNorm on [N, F, 1]
views, initialised on its first call), and the link's defining properties: it maps onto the
simplex, it is monotone, and the loss is proper at a fixed link."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import build_loss


# -- the authors' code, re-implemented in float64 -------------------------------------------------
class AuthorsActNorm:
    def __init__(self, b, logs):
        self.b, self.logs, self.initialized = b.view(1, -1, 1), logs.view(1, -1, 1), False

    def __call__(self, x):
        shape = x.size()
        x = x.view(shape[0], shape[1], -1)
        if not self.initialized:  # ActNorm.forward_transform's data-dependent init, scale 1, logscale_factor 1
            self.initialized = True
            n = x.size(0) * x.size(-1)
            b = -torch.sum(x, dim=(0, -1)) / n
            var = torch.sum((x + b.view(1, -1, 1)) ** 2, dim=(0, -1)) / n
            with torch.no_grad():
                self.b.copy_(b.view(1, -1, 1))
                self.logs.copy_(torch.log(1.0 / (torch.sqrt(var) + 1e-6)).view(1, -1, 1))
        out = (x + self.b) * (torch.exp(self.logs) + 0.001)
        return out.view(shape)


def pos_linear(x, weight, bias=None):
    return F.linear(x, F.softplus(weight), bias) * (1 / x.size(1))


def authors_icnn(x, p, actnorms):
    """ICNN3.forward with symm_act_first=False, softplus activations; p: this block's parameters."""
    depth = len(actnorms)
    z = F.softplus(F.linear(x, p["icnn.first.weight"], p["icnn.first.bias"]))
    for i in range(depth - 1):
        wz = pos_linear(z, p[f"icnn.z_layers.{i}.weight"], p[f"icnn.z_layers.{i}.bias"])
        wx = F.linear(x, p[f"icnn.x_layers.{i}.weight"], p[f"icnn.x_layers.{i}.bias"])
        z = F.softplus(actnorms[i](wz + wx))
        aug = F.softplus(F.linear(x, p[f"icnn.aug_layers.{i}.weight"], p[f"icnn.aug_layers.{i}.bias"]))
        z = torch.cat([z, aug], 1)
    return actnorms[-1](pos_linear(z, p["icnn.last_z.weight"]) + F.linear(x, p["icnn.last_x.weight"]))


def authors_flow(x, p, actnorms):
    """DeepConvexFlow.forward with identity_diag=True: the gradient of the potential."""
    with torch.enable_grad():
        x = x.clone().requires_grad_(True)
        n = x.size(0)
        potential = (F.softplus(p["w1"]) * authors_icnn(x, p, actnorms)
                     + F.softplus(p["w0"]) * (x.view(n, -1) ** 2).sum(1, keepdim=True) / 2)
        return torch.autograd.grad(potential.sum(), x, create_graph=True)[0]


def authors_log_softmax_plus(a):
    """lib/functional.py log_softmax_plus: the max is over a, the appended 0 is not in it."""
    a_max = a.max(-1)[0].view(-1, 1)
    b = torch.cat((a, torch.zeros(a.shape[0], 1, dtype=a.dtype)), -1)
    return b - a_max - torch.log(torch.sum(torch.exp(b - a_max), -1).view(-1, 1))


class AuthorsLink:
    """LegendreLink with this loss's parameters (shared tensors: gradients land on the loss's)."""

    def __init__(self, loss):
        self.blocks = []
        for i, flow in enumerate(loss.flows):
            p = {name: param for name, param in flow.named_parameters()}
            depth = loss.depth
            # The ActNorm parameters are tensors shared with the loss's, set by the authors' init here.
            actnorms = [AuthorsActNorm(p[f"icnn.norms.{k}.b"], p[f"icnn.norms.{k}.logs"]) for k in range(depth - 1)]
            actnorms.append(AuthorsActNorm(p["icnn.last_norm.b"], p["icnn.last_norm.logs"]))
            self.blocks.append((p, actnorms))

    def __call__(self, u):
        for p, actnorms in self.blocks:
            u = authors_flow(u, p, actnorms)
        return authors_log_softmax_plus(u)


def _twin_losses(num_classes, seed=0, **params):
    torch.manual_seed(seed)
    ours = build_loss("legendretron", num_classes=num_classes, **params).double()
    theirs = build_loss("legendretron", num_classes=num_classes, **params).double()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


@pytest.mark.parametrize("params", [{}, {"hidden": 2, "blocks": 2}], ids=["lt_mnist", "lt_libsvm"])
def test_value_and_gradients_match_the_authors_code_from_the_first_batch_on(params):
    c, g = 10, torch.Generator().manual_seed(1)
    ours, theirs = _twin_losses(c, **params)
    ours.train()
    link = AuthorsLink(theirs)
    for step in range(3):  # step 0 initialises every ActNorm from its batch, in both
        u = torch.randn(64, c - 1, generator=g, dtype=torch.float64) * (1 + 3 * step)
        y = torch.randint(0, c, (64,), generator=g)
        z = torch.cat([u, torch.zeros(64, 1, dtype=torch.float64)], 1).requires_grad_(True)  # the pinned last logit
        u_ref = u.clone().requires_grad_(True)
        value = ours(z, y)
        ref = F.nll_loss(link(u_ref), y)
        torch.testing.assert_close(value, ref, rtol=1e-12, atol=1e-12)
        value.backward()
        ref.backward()
        torch.testing.assert_close(z.grad[:, :-1], u_ref.grad, rtol=1e-9, atol=1e-12)
        for (name, mine), (_, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
            torch.testing.assert_close(mine, reference, rtol=1e-13, atol=0, msg=name)  # the same ActNorm init
            if mine.grad is not None or reference.grad is not None:
                torch.testing.assert_close(mine.grad, reference.grad, rtol=1e-9, atol=1e-12, msg=name)
        ours.zero_grad()
        theirs.zero_grad()


def test_the_last_logit_is_the_reference_class_so_a_common_shift_changes_nothing():
    loss = build_loss("legendretron", num_classes=5).double()
    z = torch.randn(16, 5, dtype=torch.float64)
    y = torch.randint(0, 5, (16,))
    loss.train()
    loss(z, y)  # initialise the ActNorms
    loss.eval()
    torch.testing.assert_close(loss.sample_losses(z + 7.0, y), loss.sample_losses(z, y), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("scale", [0.1, 10.0, 1e3])
def test_the_predicted_probabilities_lie_on_the_simplex(scale):
    torch.manual_seed(0)
    loss = build_loss("legendretron", num_classes=7, blocks=2).eval()
    with torch.inference_mode():  # as Lightning evaluates: the link's gradient map works there too
        log_p = loss.adjust_eval_logits(torch.randn(256, 7) * scale)
    p = log_p.exp()
    assert torch.isfinite(log_p).all() and (p >= 0).all()
    torch.testing.assert_close(p.sum(1), torch.ones(256), rtol=0, atol=1e-5)


def _perturbed(loss, seed, spread=1.5):
    """The link far from its initialisation, as a trained one may be."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in loss.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * spread)
    return loss.eval()


@pytest.mark.parametrize("seed", range(4))
def test_one_block_link_is_monotone_on_random_pairs(seed):
    # <grad psi(u) - grad psi(v), u - v> >= softplus(w0) |u - v|^2 > 0 for a convex icnn: monotone.
    torch.manual_seed(seed)
    loss = _perturbed(build_loss("legendretron", num_classes=6).double(), seed)
    g = torch.Generator().manual_seed(seed)
    u, v = (torch.randn(4000, 5, generator=g, dtype=torch.float64) * 4 for _ in range(2))
    with torch.no_grad():
        inner = ((loss.link(u) - loss.link(v)) * (u - v)).sum(1)
    strong = F.softplus(loss.flows[0].w0).item() * ((u - v) ** 2).sum(1)
    assert (inner >= strong * (1 - 1e-9)).all()


def _expected_loss_minimiser(loss, p):
    """argmin_z E_{y ~ p} l(z, y) over z in R^C, by L-BFGS in float64 from z = 0."""
    z = torch.zeros(1, len(p), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")
    targets = torch.arange(len(p))

    def objective():
        opt.zero_grad()
        value = (loss.sample_losses(z.expand(len(p), -1), targets) * p).sum()
        value.backward()
        return value

    opt.step(objective)
    return z.detach()


@pytest.mark.parametrize("blocks", [1, 2])
def test_the_loss_is_proper_at_a_fixed_link(blocks):
    # The expected loss under p is minimised where the predicted probabilities are p (the log loss of
    # a bijective link's probabilities), whatever the link's parameters.
    torch.manual_seed(3)
    loss = _perturbed(build_loss("legendretron", num_classes=4, blocks=blocks).double(), seed=3, spread=0.5)
    for p in ([0.7, 0.1, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25], [0.02, 0.03, 0.9, 0.05]):
        p = torch.tensor(p, dtype=torch.float64)
        z = _expected_loss_minimiser(loss, p)
        with torch.no_grad():
            predicted = loss.adjust_eval_logits(z).softmax(1)[0]
        torch.testing.assert_close(predicted, p, rtol=0, atol=1e-6)


def test_actnorm_initialisation_is_checkpointed_and_happens_once_in_training_only():
    loss = build_loss("legendretron", num_classes=5)
    z, y = torch.randn(32, 5) * 3, torch.randint(0, 5, (32,))
    loss.eval()
    loss(z, y)
    assert not bool(loss.flows[0].icnn.norms[0].initialized)  # evaluation never initialises
    loss.train()
    loss(z, y)
    state = loss.state_dict()
    assert bool(state["flows.0.icnn.norms.0.initialized"]) and bool(state["flows.0.icnn.last_norm.initialized"])
    norm = loss.flows[0].icnn.norms[0]
    restored = build_loss("legendretron", num_classes=5)
    restored.load_state_dict(state)
    restored.train()
    restored(z * 5, y)  # a different batch: no second initialisation
    torch.testing.assert_close(restored.flows[0].icnn.norms[0].b, norm.b)
    restored.eval()
    loss.eval()
    torch.testing.assert_close(restored.sample_losses(z, y), loss.sample_losses(z, y))


def test_first_actnorm_normalises_its_first_batch():
    # (x + b) (1 / (std + 1e-6) + 0.001) with b = -mean: mean 0, standard deviation about 1 + 0.001 std.
    torch.manual_seed(0)
    loss = build_loss("legendretron", num_classes=8).double().train()
    seen = {}
    norm = loss.flows[0].icnn.norms[0]
    norm.register_forward_hook(lambda module, args, out: seen.setdefault("io", (args[0].detach(), out.detach())) and None)
    loss(torch.randn(512, 8, dtype=torch.float64) * 2, torch.randint(0, 8, (512,)))
    x, out = seen["io"]
    std_in = x.std(0, unbiased=False)
    torch.testing.assert_close(out.mean(0), torch.zeros(out.shape[1], dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), std_in / (std_in + 1e-6) + 1e-3 * std_in, atol=1e-12, rtol=0)


def test_bad_architecture_is_refused_with_the_range():
    with pytest.raises(ValueError, match="hidden=3 must be even"):
        build_loss("legendretron", num_classes=3, hidden=3)
    with pytest.raises(ValueError, match=r"blocks=0 is out of range: it must be an integer >= 1"):
        build_loss("legendretron", num_classes=3, blocks=0)


def _ddp_rank(rank: int, store_path: str, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)  # the same initial link on both ranks, as DDP's broadcast leaves it
        loss = build_loss("legendretron", num_classes=6).double().train()
        z, y = _ddp_batch()
        half = slice(0, 40) if rank == 0 else slice(40, 64)  # unequal shards: the moments are weighted by count
        loss(z[half], y[half])
        torch.save(loss.state_dict(), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _ddp_batch():
    g = torch.Generator().manual_seed(5)
    return torch.randn(64, 6, generator=g, dtype=torch.float64) * 2, torch.randint(0, 6, (64,), generator=g)


def test_actnorm_initialisation_is_the_whole_batchs_on_every_ddp_rank(tmp_path):
    from tests.conftest import spawn_and_join

    spawn_and_join(_ddp_rank, [(rank, str(tmp_path / "store"), str(tmp_path)) for rank in (0, 1)], timeout=120)
    torch.manual_seed(0)
    single = build_loss("legendretron", num_classes=6).double().train()
    single(*_ddp_batch())  # one process, the whole batch
    expected = single.state_dict()
    for rank in (0, 1):
        state = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for key in expected:
            torch.testing.assert_close(state[key], expected[key], rtol=1e-12, atol=1e-12, msg=f"rank {rank}: {key}")
