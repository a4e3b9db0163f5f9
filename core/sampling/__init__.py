"""Drawing new latent codes: the samplers, interpolation paths, and the scoreboard that compares samplers."""
