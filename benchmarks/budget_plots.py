"""The budget benchmark's two figures: the data-efficiency curve with its bands beside the paper's 49k, and each
strategy's held-out gain against the judgments spent."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.atomic import atomic_path

COLOURS = {"hybrid": "tab:blue", "linear-probe": "tab:orange", "uniform": "tab:gray", "coverage": "tab:green",
           "uncertainty": "tab:red", "disagreement": "tab:purple"}


def plot_curve(result: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve, base = result["headline"]["curve"], result["base"]["accuracy"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for variant, h in curve.items():
        n, acc = np.array(h["n"]), base + np.array(h["gain"])
        band = np.array(h["gain_interval"]) + base
        ax.plot(n, acc, "o-", color=COLOURS[variant], label=f"{variant} (mean of {len(result['seeds'])} seeds)")
        ax.fill_between(n, band[:, 0], band[:, 1], color=COLOURS[variant], alpha=0.2)
    ax.axhline(base, color="black", ls=":", label="base (no fine-tuning)")
    ax.axhline(1 / 3, color="gray", ls="--", lw=0.8, label="chance")
    hybrid = curve["hybrid"]
    if np.isfinite(hybrid["n90"]) and hybrid["gain_interval"][-1][0] > 0:  # only where there is a gain to reach
        ax.axvline(hybrid["n90"], color=COLOURS["hybrid"], ls="--", lw=0.8, label="90% of the full-data gain")
    ax.axvline(result["paper_judgments"], color="black", lw=0.8)
    ax.text(result["paper_judgments"], ax.get_ylim()[0], " paper: 49k judgments", rotation=90, va="bottom",
            fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training judgments (triplets, log scale)")
    ax.set_ylabel("held-out 3-way odd-one-out accuracy")
    ax.set_title("Data efficiency (synthetic world; bands: 95% bootstrap, seeds x test triplets)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def plot_campaign(result: dict, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    campaign = result["headline"]["campaign"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in ("uniform", "coverage", "uncertainty", "disagreement"):
        if name not in campaign:
            continue
        rounds = campaign[name]["rounds"]
        n = np.array([r["n"] for r in rounds])
        gain, band = np.array([r["gain"] for r in rounds]), np.array([r["interval"] for r in rounds])
        ax.plot(n, gain, "o-", color=COLOURS[name], label=name)
        ax.fill_between(n, band[:, 0], band[:, 1], color=COLOURS[name], alpha=0.15)
    ax.axhline(campaign["uniform_full_data_gain"], color="black", ls="--", lw=0.8,
               label=f"uniform, all {campaign['n_full']:.0f} judgments")
    ax.axvline(0.5 * campaign["n_full"], color="black", ls=":", lw=0.8, label="half the judgments")
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_xlabel("training judgments in the folder (start + collected)")
    ax.set_ylabel("held-out accuracy gain over the base")
    ax.set_title("Collection campaign (new simulated participants; bands: 95% bootstrap)", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.tight_layout()
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
