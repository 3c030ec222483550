"""The analyses past the main table: zero-shot transfer to other judgments folders (analysis.transfer) and the
attention maps with `attention_on_agents` (analysis.attention, analysis.rollout). One `Sections` object is handed
to analysis.experiment.run_analysis, which calls it after the main table with the models it analysed.

attention_on_agents: the share of a model's rollout over a clip's pixels that falls on the agents (the synthetic
world's ground_truth/agent_masks.npz, brought to the model's clips by data.clips.clip_masks), the mean over the test
videos with a bootstrap interval over videos; model `uniform` holds the same share for uniform attention (the
floor); `diff_vs_base_attention_on_agents` pairs each trial with its base on the same video resamples. Without
masks (real videos) the maps are drawn and the score is absent; the report says why."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.attention import attention_backbone, attention_maps
from analysis.attention_plot import attention_grid
from analysis.experiment import Embedded
from analysis.rollout import agent_share, paired_share_difference, share_interval
from analysis.suite import COLUMNS, SuiteSettings, row
from analysis.transfer import TRANSFER_SET, single_runs, transfer_report, transfer_rows
from common.storage import local_folder

ATTENTION = "attention_on_agents"


class Analysed(NamedTuple):
    label: str
    model: object  # the trial's VideoEmbedder (fused or eager, as it trained)
    config: object  # its TrainConfig
    eager: object | None  # its backbone on the eager path, for the maps (None when no maps are drawn)


@dataclass(frozen=True)
class Sections:
    transfer: tuple[str, ...] = ()
    attention: int = 0  # test videos whose maps are drawn; > 0 also scores attention_on_agents on all of them
    language_model: str | None = None
    combine: str = "mean"
    cache_dir: Path | None = None

    def __call__(self, metrics: pd.DataFrame, trials: pd.DataFrame, emb: Embedded, settings: SuiteSettings,
                 out: Path) -> tuple[pd.DataFrame, str]:
        """(every row, the main ones with transfer_set "", and the report's extra sections)."""
        analysed = _load(trials, emb, eager=self.attention > 0)
        bases = _bases(analysed, emb) if self.attention else {}
        frames, texts = [metrics.assign(**{TRANSFER_SET: ""})], []
        if self.attention:
            clips = _test_clips(emb.data_dir, emb.test_videos, analysed[0].config)
            rows, text = self._attention(analysed, bases, emb, clips, out, "", settings)
            frames.append(rows.assign(**{TRANSFER_SET: ""}))
            texts.append(text)
        for folder in self.transfer:
            rows, transfer, test_clips = transfer_rows([a[:3] for a in analysed], emb, folder, settings,
                                                       language_model=self.language_model, combine=self.combine,
                                                       cache_dir=self.cache_dir)
            name = Path(folder).name
            frames.append(rows)
            if self.attention:
                more, text = self._attention(analysed, bases, transfer, test_clips, out, name, settings)
                frames.append(more.assign(**{TRANSFER_SET: name}))
                texts.append(transfer_report(pd.concat(frames[-2:]), name, folder) + "\n" + text)
            else:
                texts.append(transfer_report(rows, name, folder))
        return pd.concat(frames, ignore_index=True), "\n\n".join(texts)

    def _attention(self, analysed, bases, emb: Embedded, clips: np.ndarray, out: Path, name: str,
                   settings: SuiteSettings) -> tuple[pd.DataFrame, str]:
        from analysis.report import main_table
        from data.judgments import video_names
        from data.masks import load_clip_masks, masks_missing

        models = {**bases, **{a.label: (a.eager, a.config.model) for a in analysed}}
        maps = {label: attention_maps(backbone, config, clips) for label, (backbone, config) in models.items()}
        names = [video_names(emb.data_dir)[i] for i in emb.test_videos]
        figure = attention_grid(out / f"attention{'_' + name if name else ''}.png", clips[:self.attention],
                                {k: m[:self.attention] for k, m in maps.items()}, names[:self.attention])
        where = f" ({name})" if name else ""
        lines = [f"## Attention{where}", "", f"![attention{where}]({figure.name})", ""]
        why = masks_missing(emb.data_dir)
        if why is not None:
            return pd.DataFrame(columns=list(COLUMNS)), "\n".join(lines + [f"No {ATTENTION}: {why}.", ""])
        masks = load_clip_masks(emb.data_dir, names, _decode(analysed[0].config))
        rows = agent_rows(maps, masks, {k: emb.base_of[k] for k in maps if k in emb.base_of}, settings=settings)
        lines += [f"{ATTENTION}: share of the rollout on the agents' pixels over {len(names)} test videos (model "
                  "`uniform`: uniform attention); 95% bootstrap intervals over videos.", ""]
        return rows, "\n".join(lines + ([] if name else [main_table(rows), ""]))


def agent_rows(maps: dict[str, np.ndarray], masks: np.ndarray, base_of: dict[str, str], *,
               settings: SuiteSettings) -> pd.DataFrame:
    """attention_on_agents of each model and of uniform attention, and each trial minus its base (paired)."""
    boot = dict(n_boot=settings.n_boot, ci=settings.ci, seed=settings.seed)
    shares, rows = {}, []
    for label, m in maps.items():
        shares[label], floor = agent_share(m, masks)
        s, _ = share_interval(shares[label], **boot)
        rows.append(row(label, ATTENTION, s.value, s.ci_low, s.ci_high, s.n, "videos"))
    s, _ = share_interval(floor, **boot)
    rows.append(row("uniform", ATTENTION, s.value, s.ci_low, s.ci_high, s.n, "videos"))
    for label, base in base_of.items():
        d = paired_share_difference(shares[label], shares[base], **boot)
        rows.append(row(label, f"diff_vs_base_{ATTENTION}", d.difference, d.ci_low, d.ci_high, len(masks),
                        f"videos (p={d.p_value:.3g})"))
    return pd.DataFrame(rows)


def _load(trials: pd.DataFrame, emb: Embedded, *, eager: bool) -> list[Analysed]:
    """The analysed trials again, labelled as the main table labels them (their single runs, in trial order)."""
    from trainables.embed import load_trained

    out = []
    for trial, label in zip(trials.itertuples(), single_runs(emb)):
        with local_folder(trial.checkpoint_path) as checkpoint:
            model, config = load_trained(checkpoint)
            eager_backbone = attention_backbone(config, model.decode, checkpoint) if eager else None
            out.append(Analysed(label, model, config, eager_backbone))
    return out


def _bases(analysed: list[Analysed], emb: Embedded) -> dict:
    """Each family's base on the eager path, from the config of its first (best) trial."""
    bases = {}
    for a in analysed:
        base = emb.base_of[a.label]
        if base not in bases:
            bases[base] = (attention_backbone(a.config, a.model.decode), a.config.model)
    return bases


def _decode(config):
    from data.prepared import read_meta

    return read_meta(config.prepared_dir).decode


def _test_clips(data_dir: Path, test_videos: np.ndarray, config) -> np.ndarray:
    from data.clips import load_clips
    from data.judgments import video_names

    names = video_names(data_dir)
    return np.asarray(load_clips(data_dir, [names[i] for i in test_videos], _decode(config)))
