"""The torch and JAX distribution functions against one NumPy/SciPy reference.

Every check runs for both backends (``backend`` fixture); the JAX or torch half is skipped when that
framework is missing, and functions another backend does not have yet are skipped by name.
"""

import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import special, stats

import mixrl._logging

RNG = np.random.default_rng(0)
MEAN = RNG.normal(size=(6, 3)).astype(np.float32)
LOG_STD = RNG.normal(scale=0.5, size=(6, 3)).astype(np.float32)
X = RNG.normal(size=(6, 3)).astype(np.float32)
LOGITS = RNG.normal(size=(6, 4)).astype(np.float32)
INDEX = (np.arange(6) % 4).reshape(-1, 1)


def _torch():
    torch = pytest.importorskip("torch")
    from mixrl.models.torch import distributions

    def sampler(name):
        function = getattr(distributions, name)

        def sample(seed, *args):
            torch.manual_seed(seed)
            return function(*args)

        return sample

    return SimpleNamespace(
        d=distributions,
        array=lambda x: torch.as_tensor(np.asarray(x)),
        index=lambda x: torch.as_tensor(np.asarray(x), dtype=torch.int64),
        numpy=lambda t: t.detach().cpu().numpy(),
        sampler=sampler,
    )


def _jax():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from mixrl.models.jax import distributions

    def sampler(name):
        function = getattr(distributions, name)
        return lambda seed, *args: function(jax.random.PRNGKey(seed), *args)

    return SimpleNamespace(
        d=distributions,
        array=lambda x: jnp.asarray(np.asarray(x)),
        index=lambda x: jnp.asarray(np.asarray(x), dtype=jnp.int32),
        numpy=np.asarray,
        sampler=sampler,
    )


@pytest.fixture(params=["torch", "jax"], scope="module")
def backend(request):
    return _torch() if request.param == "torch" else _jax()


def function(backend, name):
    """``backend.d.<name>``, skipping backends that do not have it yet."""
    if not hasattr(backend.d, name):
        pytest.skip(f"{backend.d.__name__}.{name} does not exist yet")
    return getattr(backend.d, name)


class TestReductions:
    @pytest.mark.parametrize("name, reduce", [("sum", np.sum), ("mean", np.mean), ("prod", np.prod)])
    def test_reductions_keep_the_last_axis(self, backend, name, reduce):
        """sum/mean/prod reduce the last axis to width 1; none keeps the input."""
        result = backend.numpy(backend.d.get_reduction(name)(backend.array(X)))
        np.testing.assert_allclose(result, reduce(X, axis=-1, keepdims=True), rtol=1e-5)
        np.testing.assert_array_equal(backend.numpy(backend.d.get_reduction("none")(backend.array(X))), X)

    def test_unknown_reduction_is_rejected(self, backend):
        """The error names the allowed reductions."""
        with pytest.raises(ValueError, match="'max'.*'mean', 'sum', 'prod', 'none'"):
            backend.d.get_reduction("max")

    def test_prod_warns_once(self, backend, caplog, monkeypatch):
        """'prod' is accepted for compatibility but logs one warning."""
        monkeypatch.setattr(mixrl._logging, "_said_once", set())
        with caplog.at_level(logging.WARNING, logger="mixrl"):
            backend.d.get_reduction("prod")
            backend.d.get_reduction("prod")
        assert sum("not a log-probability" in r.getMessage() for r in caplog.records) == 1


class TestGaussian:
    @pytest.mark.parametrize("log_std", [LOG_STD, LOG_STD[0]], ids=["state-dependent", "state-independent"])
    def test_log_prob_matches_scipy_norm(self, backend, log_std):
        """Element-wise log N(x | mean, exp(log_std)) for (N, A) and (A,) log-std."""
        result = backend.d.gaussian_log_prob(backend.array(MEAN), backend.array(log_std), backend.array(X))
        np.testing.assert_allclose(backend.numpy(result), stats.norm(MEAN, np.exp(log_std)).logpdf(X), rtol=1e-5)

    def test_log_prob_of_noise_equals_log_prob_of_the_sample(self, backend):
        """log N(mean + std * noise) written with the noise alone gives the same value."""
        noise = RNG.normal(size=(6, 3)).astype(np.float32)
        sample = MEAN + np.exp(LOG_STD) * noise
        result = backend.d.gaussian_log_prob_of_noise(backend.array(noise), backend.array(LOG_STD))
        np.testing.assert_allclose(backend.numpy(result), stats.norm(MEAN, np.exp(LOG_STD)).logpdf(sample), rtol=1e-4)

    def test_entropy_matches_scipy_norm(self, backend):
        """1/2 + log(2 pi)/2 + log_std, element-wise."""
        result = backend.numpy(backend.d.gaussian_entropy(backend.array(LOG_STD)))
        np.testing.assert_allclose(result, stats.norm(0, np.exp(LOG_STD)).entropy(), rtol=1e-5)

    def test_sample_is_mean_plus_std_times_noise_with_the_right_moments(self, backend):
        """Monte-Carlo: 1e5 draws have mean 1 and std 2; the returned noise reproduces the sample."""
        mean, std = np.ones((100_000, 2), np.float32), np.full((100_000, 2), 2.0, np.float32)
        sample, noise = backend.sampler("gaussian_sample")(0, backend.array(mean), backend.array(std))
        sample, noise = backend.numpy(sample), backend.numpy(noise)
        np.testing.assert_allclose(sample, mean + std * noise, rtol=1e-6)
        np.testing.assert_allclose(sample.mean(0), [1.0, 1.0], atol=0.03)
        np.testing.assert_allclose(sample.std(0), [2.0, 2.0], atol=0.03)


class TestMultivariateGaussian:
    def test_log_prob_matches_scipy_multivariate_normal(self, backend):
        """scale_tril = diag(std) (not the variance): log-density (N, 1)."""
        result = backend.numpy(
            function(backend, "multivariate_gaussian_log_prob")(
                backend.array(MEAN), backend.array(LOG_STD), backend.array(X)
            )
        )
        expected = [
            stats.multivariate_normal(m, np.diag(np.exp(2 * s))).logpdf(x)
            for m, s, x in zip(MEAN, LOG_STD, X, strict=True)
        ]
        assert result.shape == (6, 1)
        np.testing.assert_allclose(result[:, 0], expected, rtol=1e-5)

    def test_entropy_matches_scipy_multivariate_normal(self, backend):
        """(N,) for a batched log-std, () for a state-independent (A,) one."""
        entropy = function(backend, "multivariate_gaussian_entropy")
        expected = [stats.multivariate_normal(np.zeros(3), np.diag(np.exp(2 * s))).entropy() for s in LOG_STD]
        np.testing.assert_allclose(backend.numpy(entropy(backend.array(LOG_STD))), expected, rtol=1e-5)
        single = backend.numpy(entropy(backend.array(LOG_STD[0])))
        assert single.shape == ()
        np.testing.assert_allclose(single, expected[0], rtol=1e-5)


class TestCategorical:
    def test_log_probs_from_logits_is_log_softmax(self, backend):
        """Any real logits give normalised log-probabilities."""
        result = backend.d.categorical_log_probs_from_logits(backend.array(LOGITS))
        np.testing.assert_allclose(backend.numpy(result), special.log_softmax(LOGITS, -1), rtol=1e-5, atol=1e-6)

    def test_log_probs_from_probs_normalises_by_the_row_sum(self, backend):
        """Unnormalised weights give log(w / sum w); a zero weight gives a finite log(eps)."""
        weights = np.exp(LOGITS) * 3.0
        weights[0, 0] = 0.0
        result = backend.numpy(backend.d.categorical_log_probs_from_probs(backend.array(weights)))
        expected = np.log(weights[1:] / weights[1:].sum(-1, keepdims=True))
        np.testing.assert_allclose(result[1:], expected, rtol=1e-5, atol=1e-6)
        assert np.isfinite(result[0, 0]) and result[0, 0] < -15

    def test_log_prob_picks_the_index(self, backend):
        """(N, n) log-probabilities and (N, 1) indices give (N, 1)."""
        log_probs = special.log_softmax(LOGITS, -1)
        result = backend.d.categorical_log_prob(backend.array(log_probs), backend.index(INDEX))
        np.testing.assert_allclose(backend.numpy(result), np.take_along_axis(log_probs, INDEX, -1), rtol=1e-6)

    def test_entropy_matches_scipy_and_ignores_zero_probabilities(self, backend):
        """-sum p log p (N,); a -inf log-probability contributes 0, not NaN."""
        log_probs = special.log_softmax(LOGITS, -1)
        result = backend.numpy(backend.d.categorical_entropy(backend.array(log_probs)))
        np.testing.assert_allclose(result, stats.entropy(np.exp(log_probs), axis=-1), rtol=1e-5)
        with_zero = np.array([[0.0, -np.inf]], np.float32)
        np.testing.assert_allclose(backend.numpy(backend.d.categorical_entropy(backend.array(with_zero))), [0.0])

    def test_sample_frequencies_follow_the_probabilities(self, backend):
        """Monte-Carlo: 40000 draws (N, 1) match p = [0.1, 0.2, 0.3, 0.4] within 0.01."""
        probs = np.array([0.1, 0.2, 0.3, 0.4])
        log_probs = np.tile(np.log(probs), (40_000, 1)).astype(np.float32)
        sample = backend.numpy(backend.sampler("categorical_sample")(1, backend.array(log_probs)))
        assert sample.shape == (40_000, 1)
        np.testing.assert_allclose(np.bincount(sample.ravel(), minlength=4) / 40_000, probs, atol=0.01)


class TestMultiCategorical:
    NVEC = (3, 2, 4)
    LOGITS = RNG.normal(size=(6, 9)).astype(np.float32)

    def reference(self):
        return [special.log_softmax(chunk, -1) for chunk in np.split(self.LOGITS, [3, 5], -1)]

    def test_log_probs_split_by_nvec_and_normalise(self, backend):
        """sum(nvec) columns become len(nvec) normalised chunks; another width is a ValueError."""
        log_probs = function(backend, "multicategorical_log_probs")
        to_log_probs = backend.d.categorical_log_probs_from_logits
        parts = log_probs(backend.array(self.LOGITS), self.NVEC, to_log_probs)
        for part, expected in zip(parts, self.reference(), strict=True):
            np.testing.assert_allclose(backend.numpy(part), expected, rtol=1e-5, atol=1e-6)
        with pytest.raises(ValueError, match=r"sum\(nvec\) = 9"):
            log_probs(backend.array(np.zeros((6, 1), np.float32)), self.NVEC, to_log_probs)

    def test_log_prob_entropy_and_mode_per_component(self, backend):
        """(N, K) log-probabilities of indices, (N, K) entropies and (N, K) argmax, one categorical per chunk."""
        reference = self.reference()
        index = np.stack([np.arange(6) % n for n in self.NVEC], -1)
        log_probs = tuple(backend.array(r) for r in reference)
        result = backend.numpy(function(backend, "multicategorical_log_prob")(log_probs, backend.index(index)))
        expected = np.concatenate([np.take_along_axis(r, index[:, k : k + 1], -1) for k, r in enumerate(reference)], -1)
        np.testing.assert_allclose(result, expected, rtol=1e-6)
        entropy = backend.numpy(function(backend, "multicategorical_entropy")(log_probs))
        np.testing.assert_allclose(
            entropy, np.stack([stats.entropy(np.exp(r), axis=-1) for r in reference], -1), rtol=1e-5
        )
        mode = backend.numpy(function(backend, "multicategorical_mode")(log_probs))
        np.testing.assert_array_equal(mode, np.stack([r.argmax(-1) for r in reference], -1))

    def test_components_are_independent(self, backend):
        """Two uniform binary components sampled together are uncorrelated and cover their ranges."""
        function(backend, "multicategorical_sample")
        uniform = (backend.array(np.full((20_000, 2), -math.log(2), np.float32)),) * 2
        sample = backend.numpy(backend.sampler("multicategorical_sample")(2, uniform))
        assert sample.shape == (20_000, 2) and set(np.unique(sample).tolist()) == {0, 1}
        assert abs(np.corrcoef(sample[:, 0], sample[:, 1])[0, 1]) < 0.03


class TestSquashedGaussian:
    def test_correction_is_the_log_jacobian_of_the_rescaled_tanh(self, backend):
        """log|d(h tanh u)/du| = log h + log(1 - tanh^2 u) = log h + 2 (log 2 - |u| - log1p(exp(-2|u|))), also far
        into saturation (|u| = 30, where 1 - tanh^2 u is 0 in float32)."""
        u = np.linspace(-30, 30, 13, dtype=np.float32).reshape(-1, 1)
        log_half = np.array([0.7], np.float32)
        result = backend.d.squashed_gaussian_correction(backend.array(u), backend.array(log_half))
        a = np.abs(u.astype(np.float64))
        expected = log_half + 2 * (math.log(2) - a - np.log1p(np.exp(-2 * a)))
        np.testing.assert_allclose(backend.numpy(result), expected, rtol=1e-5, atol=1e-5)


class TestBeta:
    A = RNG.uniform(0.2, 8.0, (6, 3)).astype(np.float32)
    B = RNG.uniform(0.2, 8.0, (6, 3)).astype(np.float32)
    X = np.concatenate([RNG.uniform(0, 1, (4, 3)), [[0.0, 1.0, 0.5], [1.0, 0.0, 1e-9]]]).astype(np.float32)

    def test_log_prob_matches_scipy_inside_and_is_finite_on_the_bounds(self, backend):
        """beta_log_prob equals scipy.stats.beta.logpdf on (0, 1); x = 0 or 1 is read just inside (finite)."""
        result = backend.numpy(backend.d.beta_log_prob(*map(backend.array, (self.A, self.B, self.X))))
        expected = stats.beta.logpdf(self.X[:4].astype(np.float64), self.A[:4], self.B[:4])
        np.testing.assert_allclose(result[:4], expected, rtol=1e-5, atol=1e-5)
        assert np.isfinite(result).all()

    def test_log_prob_of_logit_and_entropy_match_scipy(self, backend):
        """beta_log_prob_of_logit at logit(x) is the density of x; beta_entropy is scipy's."""
        x = self.X[:4].astype(np.float64)
        logit = np.log(x / (1 - x)).astype(np.float32)
        result = backend.d.beta_log_prob_of_logit(*map(backend.array, (self.A[:4], self.B[:4], logit)))
        expected = stats.beta.logpdf(x, self.A[:4], self.B[:4])
        np.testing.assert_allclose(backend.numpy(result), expected, rtol=1e-5, atol=1e-5)
        entropy = backend.numpy(backend.d.beta_entropy(backend.array(self.A), backend.array(self.B)))
        np.testing.assert_allclose(entropy, stats.beta(self.A, self.B).entropy(), rtol=1e-5, atol=1e-5)
