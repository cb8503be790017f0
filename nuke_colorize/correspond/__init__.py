"""Correspondence: deep features, (restricted) affinity and the softmax warp of reference colour."""
