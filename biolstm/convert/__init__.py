"""Importers into :class:`~biolstm.spec.NetworkSpec` (and exporters out of it).

* :mod:`biolstm.convert.lsnn` -- LSNN/Loihi-style integer weight files
  (``w_in.npy``, ``w_rec.npy``, ``w_out.npy``) of Rao et al. 2022;
* :mod:`biolstm.convert.nir_graph` -- NIR graphs (``nir`` package) built from the node
  types biolstm can express;
* :mod:`biolstm.convert.torch_model` -- a trained :class:`~biolstm.train.snn.TorchNetwork`
  or a training checkpoint.
"""
