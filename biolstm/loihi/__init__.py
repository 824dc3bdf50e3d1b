"""Intel Loihi: fixed point, placement on cores and chips, constraint checks, energy and time.

Modules (each small, each usable alone):

* :mod:`.chips`       chip descriptions as data (``chips/loihi1.json``, ``chips/loihi2.json``)
* :mod:`.settings`    the choices on which published tools disagree, with defaults
* :mod:`.forms`       a neuron model's exact one-step form read as a Loihi compartment
* :mod:`.quantize`    ``quantize(spec, chip="loihi1", **settings) -> QuantizedNetwork``
* :mod:`.fixed_point` the :class:`QuantizedNetwork` contract (quantizer <-> emulator) and the
                      one home of the integer widths and helpers (decay, wrap, saturate, weights)
* :mod:`.emulate`     the Loihi-exact integer emulation in Brian2 (``simulate_quantized``, ``simulate_loihi``)
* :mod:`.paper`       the paper's sMNIST network and its LSNN constants (``PAPER``, ``paper_network``)
* :mod:`.compare`     a network before and after quantization on the same samples
* :mod:`.placement`   split populations over cores, pack, fill chips, per-core usage
* :mod:`.check`       ``check(spec_or_qnet, chip) -> CheckReport`` (``biolstm check``)
* :mod:`.introspect`  read a plain Brian2 script's network for ``biolstm check``
* :mod:`.energy`      ``estimate(report, activity, model) -> EnergyReport``
* :mod:`.report`      ``loihi_summary(spec, activity, chip, baseline) -> dict``
"""
