"""The experiment, the top layer: the synthetic benchmark (study.synthetic), the synthetic pretrained backbone
(study.pretrain), the preflight, the persisted Optuna study and the sweep driver (`python -m study.sweep`).
The judgments, splits, decoding and the prepared folder are the data layer's (`data`)."""
