"""PyTorch side of fppdl: models, data, local training, credibility and baselines.

Knows nothing of chains, storage or encryption.
"""
