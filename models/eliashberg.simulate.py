# Writes the truth (models/eliashberg.truth.json: two phonon peaks) and data simulated from it
# (models/eliashberg.data.json) with numpy, until `mmi simulate` exists. Run from the repository root.
import numpy as np, json
rng = np.random.default_rng(20261127)
n_w = 40
dOmega = 2.0
Omega = dOmega * np.arange(1, n_w + 1)                 # 2 .. 80 meV
# truth: acoustic + optical phonon peaks
a2F = 0.35 * np.exp(-0.5 * ((Omega - 18) / 5) ** 2) + 0.6 * np.exp(-0.5 * ((Omega - 55) / 4) ** 2) + 1e-3
log_a2F = np.log(a2F)
lam = 2 * dOmega * np.sum(a2F / Omega)
wlog = np.exp(2 / lam * dOmega * np.sum(np.log(Omega) * a2F / Omega))
mu = 0.12
Tc = wlog / 1.2 * np.exp(-1.04 * (1 + lam) / (lam - mu * (1 + 0.62 * lam))) / 0.08617
omega_arpes = dOmega * (np.arange(1, 31) + 0.5)       # between grid points
K = -dOmega * np.log(np.abs((Omega[None, :] + omega_arpes[:, None]) / (Omega[None, :] - omega_arpes[:, None])))
sig_a, sig_o = 1.0, 0.5
re_sigma = K @ a2F + sig_a * rng.standard_normal(len(omega_arpes))
omega_opt = np.linspace(5, 120, 24)
Ko = 2 * np.pi / omega_opt[:, None] * (omega_opt[:, None] - Omega[None, :]) * (omega_opt[:, None] > Omega[None, :]) * dOmega
inv_tau = Ko @ a2F + sig_o * rng.standard_normal(len(omega_opt))
Tc_obs = Tc + 0.5 * rng.standard_normal()
data = dict(n_w=n_w, Omega=Omega.tolist(), dOmega=dOmega, n_arpes=len(omega_arpes), omega_arpes=omega_arpes.tolist(),
            re_sigma=re_sigma.round(4).tolist(), n_opt=len(omega_opt), omega_opt=omega_opt.round(4).tolist(),
            inv_tau=inv_tau.round(4).tolist(), i_lo=3, i_hi=22, mu_star=mu, Tc_obs=round(float(Tc_obs), 3))
truth = dict(log_a2F=log_a2F.tolist(), a2F=a2F.tolist(), **{"lambda": float(lam)}, omega_log=float(wlog), Tc=float(Tc), sigma_arpes=sig_a, sigma_opt=sig_o)
json.dump(data, open('models/eliashberg.data.json', 'w'), indent=1)
json.dump(truth, open('models/eliashberg.truth.json', 'w'), indent=1)
print(lam, wlog, Tc)
