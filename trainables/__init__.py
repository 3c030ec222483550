"""What runs inside a trial: the LoRA backbone embedder (model; one module per family in backbones/), the loss
terms (losses), the training objectives (objectives/: one module each, what a step computes from them, on the
step data of step), content-preserving views (augment), triplet sampling, the Ray Train loop (loop), checkpoints
and embedding (embed), the trial's typed settings (config). Never imports `study`: a trial reads only its prepared
folder (data.prepared)."""
