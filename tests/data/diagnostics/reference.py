"""Reference values for tests/diagnostics.rs, computed by ArviZ.

Run with ArviZ installed (`python3 -m venv /tmp/az && /tmp/az/bin/pip install arviz`):

    /tmp/az/bin/python tests/data/diagnostics/reference.py

It prints the `REFERENCES` table of tests/diagnostics.rs. The draw sets come from the same generator as the
Rust test (a 64-bit LCG, Box-Muller normals, AR(1) recursions), written with plain Python floats and the
C library's log, cos, sqrt and tan, so both languages see bit-identical draws; each case records the sum
of its draws so the test can check that first.
"""

import math

import arviz as az
import numpy as np
import scipy
from arviz.stats.diagnostics import _rhat, _split_chains, _z_scale

MASK = (1 << 64) - 1


class Lcg:
    """Knuth's MMIX LCG; uniforms in (0, 1) from the top 52 bits."""

    def __init__(self, seed):
        self.state = seed & MASK

    def uniform(self):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK
        return ((self.state >> 12) + 0.5) / 4503599627370496.0

    def normal(self):
        u1 = self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def ar1(seed, chains, draws, rho, offset=0.0):
    """AR(1) chains with unit stationary variance; chain c is shifted by c * offset."""
    rng = Lcg(seed)
    scale = math.sqrt(1.0 - rho * rho)
    out = []
    for c in range(chains):
        x = rng.normal()
        chain = []
        for _ in range(draws):
            chain.append(x + c * offset)
            x = rho * x + scale * rng.normal()
        out.append(chain)
    return out


def cauchy(seed, chains, draws):
    rng = Lcg(seed)
    return [[math.tan(math.pi * (rng.uniform() - 0.5)) for _ in range(draws)] for _ in range(chains)]


def ties(seed, chains, draws):
    rng = Lcg(seed)
    return [[math.floor(1.5 * rng.normal()) for _ in range(draws)] for _ in range(chains)]


CASES = [
    ("iid", lambda: ar1(1, 4, 1000, 0.0)),
    ("ar1_095", lambda: ar1(2, 4, 1000, 0.95)),
    ("shifted_means", lambda: ar1(3, 4, 1000, 0.0, offset=0.4)),
    ("cauchy", lambda: cauchy(4, 4, 1000)),
    ("odd_draws", lambda: ar1(5, 3, 501, 0.5)),
    ("ties", lambda: ties(6, 4, 200)),
    ("antithetic", lambda: ar1(7, 4, 1000, -0.3)),
    ("short", lambda: ar1(8, 2, 6, 0.0)),
    ("single_chain", lambda: ar1(9, 1, 1000, 0.5)),
]


def rank_rhat(x):
    """ArviZ's `_rhat_rank` without its two-chain minimum (az.rhat is NaN for one chain)."""
    split = _split_chains(x)
    bulk = _rhat(_z_scale(split))
    tail = _rhat(_z_scale(abs(split - np.median(split))))
    return max(bulk, tail)


FIELDS = ["sum", "rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean", "q5", "q50", "q95", "mean", "sd"]


def main():
    print(f"// ArviZ {az.__version__}, numpy {np.__version__}, scipy {scipy.__version__}")
    for name, make in CASES:
        x = np.array(make(), dtype=float)
        rhat = az.rhat(x, method="rank") if x.shape[0] > 1 else rank_rhat(x)
        values = [
            float(x.sum()),
            rhat,
            az.ess(x, method="bulk"),
            az.ess(x, method="tail"),
            az.ess(x, method="mean"),
            az.mcse(x, method="mean"),
            np.quantile(x, 0.05),
            np.quantile(x, 0.5),
            np.quantile(x, 0.95),
            x.mean(),
            x.std(ddof=1),
        ]
        fields = " ".join(f"{f}: {float(v)!r}," for f, v in zip(FIELDS, values))
        print(f'    Reference {{ case: "{name}", {fields} }},')


if __name__ == "__main__":
    main()
