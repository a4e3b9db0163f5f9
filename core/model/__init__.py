"""The autoencoder: its configuration, the Keras network, training, encoding, feature maps.

The only layer that imports TensorFlow, and only inside functions (see ``tfenv``).
"""
