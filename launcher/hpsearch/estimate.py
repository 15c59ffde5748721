"""What each configuration is worth, given its runs so far: the posterior mean of its hpmax.

XT's DGD ranks configurations by the plain mean of their runs, so one lucky run of a noisy objective takes the
lead and the search spends its budget around it. Here every configuration's true value is taken as drawn from
a normal prior (mean and spread of all results so far), and its runs as noisy draws around it (the noise
estimated from configurations with more than one run): the estimate is the mean shrunk towards the prior mean,
less so the more runs it has (empirical Bayes). With one run each and no noise estimate yet, half the spread is
taken as noise. This is the "estimated hpmax" of the search analysis too.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean


@dataclass
class ConfigStats:
    key: str
    hparams: dict
    scores: list[float]

    @property
    def runs(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return fmean(self.scores)


def variances(groups: list[ConfigStats]) -> tuple[float, float, float]:
    """(prior mean, prior variance of a configuration's value, noise variance of one run)."""
    scores = [s for g in groups for s in g.scores]
    mu = fmean(scores)
    total = fmean([(s - mu) ** 2 for s in scores]) if len(scores) > 1 else 0.0
    within_ss, within_df = 0.0, 0
    for g in groups:
        if g.runs > 1:
            m = g.mean
            within_ss += sum((s - m) ** 2 for s in g.scores)
            within_df += g.runs - 1
    if within_df:
        noise = within_ss / within_df
        prior = max(total - noise, 0.05 * total)
    else:
        noise = prior = total / 2
    return mu, prior, noise


def estimates(groups: list[ConfigStats]) -> dict[str, float]:
    """Posterior mean of every configuration's value, by key."""
    if not groups:
        return {}
    mu, prior, noise = variances(groups)
    out = {}
    for g in groups:
        if noise <= 0 or prior <= 0:
            out[g.key] = g.mean if noise <= 0 else mu
        else:
            weight = g.runs * prior / (g.runs * prior + noise)
            out[g.key] = mu + weight * (g.mean - mu)
    return out


def best(groups: list[ConfigStats]) -> tuple[ConfigStats, float] | None:
    """The configuration with the highest estimate (ties: more runs, then the earlier one) and its estimate."""
    est = estimates(groups)
    if not est:
        return None
    order = {g.key: i for i, g in enumerate(groups)}
    top = max(groups, key=lambda g: (est[g.key], g.runs, -order[g.key]))
    return top, est[top.key]
