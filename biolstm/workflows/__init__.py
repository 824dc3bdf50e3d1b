"""Whole pipelines built from the lower packages (load weights -> pick data -> simulate ->
summarise), shared by the commands, the result scripts and the studies.

Direction of imports (bottom first; a package imports only from its own tier and the
tiers below, checked by ``tests/project/test_layering.py``): ``errors, activity, fileio, neurons,
spec, encoding`` <- ``loihi, brian`` <- ``tasks, examples`` <- ``train`` <- ``convert`` <-
``workflows`` <- ``studies`` <- ``commands`` <- ``cli``.

* :mod:`.smnist_eval` evaluate sMNIST networks (``biolstm eval smnist``, ``biolstm demo``)
* :mod:`.store_recall` train and score STORE-RECALL networks, memory of untrained ones
"""
