"""Statistics and geometry of latent codes: moments, correlation, PCA, KDE, ellipses, the MND, components, neighbours."""
