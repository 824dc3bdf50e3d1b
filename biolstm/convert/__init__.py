"""Importers into :class:`~biolstm.spec.NetworkSpec` (and exporters out of it).

* :mod:`biolstm.convert.lsnn` -- LSNN/Loihi-style integer weight files
  (``w_in.npy``, ``w_rec.npy``, ``w_out.npy``) of Rao et al. 2022;
* :mod:`biolstm.convert.nir_graph` -- NIR graphs (``nir`` package) built from the node
  types biolstm can express, AHP loops included; :mod:`biolstm.convert.nir_export` writes
  any NetworkSpec without ALIF populations as NIR; :mod:`biolstm.convert.nir_format` states
  the conventions (SI numbers, ``r = tau/dt``, the one-step delay, the AHP pattern);
* :mod:`biolstm.convert.torch_model` -- a trained :class:`~biolstm.train.snn.TorchNetwork`
  or a training checkpoint;
* :mod:`biolstm.convert.relu_mlp` -- a trained ReLU MLP (torch ``nn.Sequential`` of
  ``Linear``/``ReLU`` or ``(W, b)`` arrays) as rate-coded LIF layers with data-based weight
  normalisation.
"""
