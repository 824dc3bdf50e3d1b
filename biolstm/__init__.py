"""biolstm: spiking networks with spike-frequency adaptation on Brian2, and their Loihi cost.

The pieces meet in :class:`biolstm.spec.NetworkSpec`; see README.md for the tour.
"""

__version__ = "0.1.0"
