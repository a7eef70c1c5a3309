"""The scalar step of one analysis (``_solve._step_one``) against the batched step
(``bracketed_step``): the same arithmetic, so bitwise the same results, edge values included."""

import itertools

import numpy as np
import pytest

from iometa.core import _solve

EDGE = [0.0, -0.0, 1e-300, -1e-300, 0.5, -0.5, 3.0, -3.0, 1e300, -1e300, np.inf, -np.inf, np.nan]


def _batched(t, u, dn, df, lo, hi):
    with np.errstate(all="ignore"):
        new, lo2, hi2 = _solve.bracketed_step(*(np.array([x]) for x in (t, u, dn, df, lo, hi)))
    return float(new[0]), float(lo2[0]), float(hi2[0])


def _same(a, b):
    return all((x == y and np.signbit(x) == np.signbit(y)) or (x != x and y != y)
               for x, y in zip(a, b))


def test_step_one_equals_batched_step_on_random_inputs():
    rng = np.random.default_rng(27)
    for _ in range(4000):
        t = float(rng.choice([0.0, rng.uniform(0, 2), 10 ** rng.uniform(-12, 3)]))
        u, dn, df = (float(rng.normal() * 10 ** rng.uniform(-6, 6)) for _ in range(3))
        lo = float(rng.choice([-np.inf, 0.0, t * rng.uniform(0, 1)]))
        hi = float(rng.choice([np.inf, t + abs(rng.normal())]))
        args = (t, u, dn, df, lo, hi)
        assert _same(_solve._step_one(*args), _batched(*args)), args


@pytest.mark.parametrize("t", [0.0, 1e-300, 0.5, 1e300])
def test_step_one_equals_batched_step_on_edge_values(t):
    cases = [(t, u, dn, df, lo, hi) for u, dn, df in itertools.product(EDGE, repeat=3)
             for lo, hi in ((-np.inf, np.inf), (0.0, np.inf), (0.0, 2.0 * t + 1.0))]
    with np.errstate(all="ignore"):  # one batched call for all of them
        new, lo2, hi2 = _solve.bracketed_step(*np.array(cases).T)
    for i, args in enumerate(cases):
        assert _same(_solve._step_one(*args), (new[i], lo2[i], hi2[i])), args


def test_halving_reaches_the_same_nonnegative_point():
    for t, step in ((1.0, -1e300), (1e-300, -1.0), (2.0, -2.0000000000000004), (0.0, -1.0),
                    (1.0, -np.inf), (1.0, np.nan)):
        with np.errstate(all="ignore"):
            want = float(_solve.halve_until_nonnegative(np.array([t]), np.array([step]))[0])
        got = _solve._halve_one(t, step)
        assert got == want or (got != got and want != want)
        assert not got < 0
