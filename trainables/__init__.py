"""What runs inside a trial: the LoRA TimeSformer embedder (model), the hybrid triplet + RSA loss (losses),
triplet sampling, the Ray Train loop (loop), checkpoints and embedding (embed), the trial's typed settings
(config). Never imports `study`: a trial reads only its prepared folder (data.prepared)."""
