"""Whole pipelines built from the lower packages (load weights -> pick data -> simulate ->
summarise), shared by the commands, the result scripts and the studies.

Direction of imports: ``neurons, spec, encoding, activity`` <- ``brian, loihi, train,
tasks`` <- ``convert`` <- ``workflows, studies`` <- ``commands``; ``tasks`` (data sets,
encoders, task networks) and the packages beside it never import ``convert``,
``workflows`` or ``commands``.

* :mod:`.smnist_eval` evaluate sMNIST networks (``biolstm eval smnist``, ``biolstm demo``)
* :mod:`.store_recall` train and score STORE-RECALL networks, memory of untrained ones
"""
