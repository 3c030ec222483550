"""What runs inside a trial: the LoRA backbone embedder (model; one module per family in backbones/), the
hybrid triplet + RSA loss (losses), what each variant computes (variants, probe), content-preserving views
(augment), triplet sampling, the Ray Train loop (loop), checkpoints and embedding (embed), the trial's typed
settings (config). Never imports `study`: a trial reads only its prepared folder (data.prepared)."""
