"""Alignment metrics as pure numpy functions (arrays in, a float or a small named tuple out), imported by
the trainer (validation), the experiment (human similarity) and the analysis (scores and reports). They
import nothing of the packages above them: no torch, Ray, pandas or file reading.

- rdm: model RDMs; compare: RDM/vector comparison (Spearman, Pearson, ...);
- odd_one_out: a model's odd-one-out choices and accuracy;
- triplet_pairs: triplets as pair counts, per-participant pairs;
- weighted_stats: weighted correlations over pair multiplicities;
- noise_ceiling, bootstrap, two_level_bootstrap (seeds x videos), permutation, variance_partitioning: the
  inference around them.
"""
