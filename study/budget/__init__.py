"""The judgment budget above the data layer: which triplets to collect next (strategies/, one file each behind one
registry), the candidate triads they choose among (candidates), the next triplets for a lab from a finished run
(`python -m study.next_triplets`, next_triplets) and the simulated collection campaign in the synthetic world
(campaign). The share of judgments a trial trains on is data.budget's."""
