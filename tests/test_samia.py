import numpy as np
import pytest
import torch
from torch import nn

from ticketleak.metrics import auc
from ticketleak.posteriors import sensitivity
from ticketleak.samia import SamiaNet, samia_attack, samia_features


@pytest.fixture(autouse=True)
def one_thread():
    """Small Transformers on a shared 2-core machine: one intra-op thread avoids spin contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sensitivity_is_zero_for_a_constant_model_and_positive_otherwise():
    x = torch.randn(20, 3, 4, 4)
    const = nn.Sequential(nn.Flatten(), nn.Linear(48, 5))
    nn.init.zeros_(const[1].weight)
    s0 = sensitivity(const, x, m=3, batch_size=7)
    assert s0.shape == (20, 5) and (s0 == 0).all()
    live = nn.Sequential(nn.Flatten(), nn.Linear(48, 5))
    live.train()
    s1 = sensitivity(live, x, m=3, eps=1e-2, batch_size=7)
    assert (s1.sum(1) > 0).all() and live.training  # mode restored
    np.testing.assert_array_equal(s1, sensitivity(live, x, m=3, eps=1e-2, batch_size=7))  # seeded


def test_sensitivity_matches_its_formula_on_a_linear_model():
    torch.manual_seed(0)
    model = nn.Linear(6, 3).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    eps, m = 1e-3, 5
    gen = torch.Generator().manual_seed(11)
    p = torch.softmax(model(x), 1)
    noisy = [torch.softmax(model(x + eps * torch.randn(x.shape, generator=gen).double()), 1) for _ in range(m)]
    expected = sum((q - p).abs() for q in noisy)
    np.testing.assert_allclose(sensitivity(model, x, m=m, eps=eps, seed=11), (expected / (m * eps)).detach().numpy())


def test_samia_net_shape():
    net = SamiaNet(10).eval()
    assert net(torch.randn(7, 30)).shape == (7, 2)


def _tokens(rng, n, num_classes, separable):
    labels = rng.integers(0, num_classes, n)
    member = np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)]
    logits = rng.normal(size=(n, num_classes))
    logits[np.arange(n), labels] += 1 + (4 * member if separable else 0)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sens = np.abs(rng.normal(size=(n, num_classes))) * (np.where(member, 0.2, 1.0)[:, None] if separable else 1)
    return probs, sens, labels, member


def test_samia_learns_separable_tokens_and_guesses_on_identical_ones():
    rng = np.random.default_rng(0)
    for separable, epochs in ((True, 15), (False, 4)):
        sp, ss, sl, sm = _tokens(rng, 600, 5, separable)
        tp, ts, tl, tm = _tokens(rng, 400, 5, separable)
        a = samia_attack(sp, ss, sl, sm, tp, ts, tl, epochs=epochs, seed=0)  # paper defaults otherwise
        assert a.score.shape == (400,) and ((a.score >= 0) & (a.score <= 1)).all()
        value = auc(tm, a.score)
        if separable:
            assert value > 0.9
        else:
            assert abs(value - 0.5) < 4 * np.sqrt(401 / (12 * 200 * 200))


def test_samia_features_layout():
    f = samia_features(np.array([[0.7, 0.3]]), np.array([[0.1, 0.2]]), np.array([1]))
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, [[0.7, 0.3, 0.1, 0.2, 0.0, 1.0]], rtol=1e-6)
