"""Built-in sweep runners: what one point of a parameter study simulates.

``poisson_network``
    A recurrent network of LIF and adaptive (AHP or ALIF) neurons driven by Poisson
    input, simulated with :func:`biolstm.brian.simulate`. Varies network size, the
    fraction of adaptive neurons, tau_AHP, AHP strength, dt, weight bits ...
``neuron_step``
    One neuron (LIF, AHP or ALIF) under a constant current step, simulated in Brian2:
    f-I curves and spike-frequency adaptation of single cells.

Training runners (sMNIST, STORE-RECALL) live next to their tasks and register
themselves here when those modules are present (see :mod:`biolstm.studies`).
"""

from __future__ import annotations

import numpy as np

from biolstm.studies.registry import RunOutput, register_runner

__all__ = ["POISSON_DEFAULTS", "NEURON_STEP_DEFAULTS", "poisson_network_spec",
           "quantize_weights", "poisson_network", "neuron_step"]

POISSON_DEFAULTS = {
    "n_neurons": 200,          # recurrent neurons in total
    "frac_adaptive": 0.5,      # fraction of them that are adaptive
    "adaptive_model": "ahp",   # "ahp" (AHP current) or "alif" (adaptive threshold, matched)
    "tau_m_ms": 20.0,
    "tau_ahp_ms": 700.0,       # AHP (or threshold-adaptation) time constant
    "delta_I_ahp_pA": 24.0,    # AHP jump per spike (ALIF: delta_theta = R_m * this)
    "dt_ms": 1.0,
    "n_inputs": 80,
    "input_rate_hz": 20.0,
    "p_in": 0.2,               # input connection probability
    "w_in_mV": 3.5,            # mean input weight
    "w_in_sd_mV": 1.0,
    "p_rec": 0.1,              # recurrent connection probability
    "w_rec_sd_mV": 1.5,        # recurrent weights ~ N(0, sd)
    "duration_ms": 1000.0,     # per sample
    "n_samples": 2,
    "weight_bits": 0,          # 0: float weights; b >= 2: sign + (b-1) magnitude bits
    "early_ms": 100.0,         # window for the onset rate (adaptation metrics)
    "backend": "numpy",
    "simulate": True,          # False: build the network only (size/Loihi-mapping studies)
}


def quantize_weights(w: np.ndarray, bits: int) -> np.ndarray:
    """Round ``w`` to ``k * step`` with integer ``|k| <= 2**(bits-1) - 1``.

    ``step = max|w| / (2**(bits-1) - 1)``, so the largest weight is kept exactly and
    weights below ``step/2`` vanish (fewer synapses). ``bits = 0`` returns ``w``
    unchanged. This is a plain uniform sign-magnitude grid (Loihi 1: 8 magnitude bits
    plus sign is ``bits = 9``), not the Loihi quantizer with its exponents.
    """
    if bits == 0:
        return w
    if bits < 2:
        raise ValueError(f"weight_bits = {bits}: use 0 (float weights) or at least 2 "
                         f"(one sign bit plus magnitude bits)")
    levels = 2 ** (bits - 1) - 1
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    if peak == 0.0:
        return w
    step = peak / levels
    return np.round(w / step) * step


def poisson_network_spec(params: dict, seed: int):
    """The ``poisson_network`` runner's NetworkSpec for ``params`` (see POISSON_DEFAULTS).

    One input matrix ``[n_inputs, N]`` and one recurrent matrix ``[N, N]`` are drawn
    from ``seed``; the last ``round(frac_adaptive*N)`` neurons form the population
    ``adaptive``, the others ``lif``. The same seed therefore gives the same wiring
    for every fraction of adaptive neurons, tau_AHP and AHP strength.
    """
    from brian2 import Mohm, mV, ms, pA, volt

    from biolstm.neurons import AHPParams, ALIFParams
    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection

    n = int(params["n_neurons"])
    if n < 1:
        raise ValueError(f"n_neurons = {n} must be >= 1")
    frac = float(params["frac_adaptive"])
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"frac_adaptive = {frac} must lie in [0, 1]")
    n_ad = int(round(frac * n))
    n_lif = n - n_ad
    rng = np.random.default_rng(seed)
    n_in = int(params["n_inputs"])
    w_in = np.abs(rng.normal(params["w_in_mV"], params["w_in_sd_mV"], (n_in, n)))
    w_in *= rng.random((n_in, n)) < params["p_in"]
    w_rec = rng.normal(0.0, params["w_rec_sd_mV"], (n, n))
    w_rec *= rng.random((n, n)) < params["p_rec"]
    np.fill_diagonal(w_rec, 0.0)
    bits = int(params["weight_bits"])
    w_in = quantize_weights(w_in, bits) * 1e-3  # volt
    w_rec = quantize_weights(w_rec, bits) * 1e-3

    membrane = {"tau_m": params["tau_m_ms"] * ms}
    ahp = AHPParams(tau_m=params["tau_m_ms"] * ms, tau_ahp=params["tau_ahp_ms"] * ms,
                    delta_I_ahp=params["delta_I_ahp_pA"] * pA, R_m=100 * Mohm)
    model = params["adaptive_model"]
    if model == "ahp":
        ad_params = {"tau_m": ahp.tau_m, "tau_ahp": ahp.tau_ahp, "delta_I_ahp": ahp.delta_I_ahp}
    elif model == "alif":
        matched = ALIFParams.matched_to(ahp)
        ad_params = {"tau_m": matched.tau_m, "tau_a": matched.tau_a,
                     "delta_theta": matched.delta_theta}
    else:
        raise ValueError(f"adaptive_model = {model!r} must be 'ahp' or 'alif'")

    pops, index = [], {}
    if n_lif:
        pops.append(Population("lif", n_lif, "lif", membrane))
        index["lif"] = slice(0, n_lif)
    if n_ad:
        pops.append(Population("adaptive", n_ad, model, ad_params))
        index["adaptive"] = slice(n_lif, n)
    projections = []
    for post, cols in index.items():
        block = w_in[:, cols]
        if np.any(block):
            projections.append(Projection(f"in_{post}", "poisson", post, block, weight_unit=volt,
                                          sign="excitatory"))
        for pre, rows in index.items():
            block = w_rec[rows, cols]
            if np.any(block):
                projections.append(Projection(f"{pre}_{post}", pre, post, block, weight_unit=volt))
    return NetworkSpec(
        populations=pops, inputs=[InputGroup("poisson", n_in)], projections=projections,
        dt=params["dt_ms"] * ms,
        metadata={"name": "poisson_network", "seed": int(seed),
                  "params": {k: v for k, v in params.items()}})


@register_runner("poisson_network", defaults=POISSON_DEFAULTS,
                 metrics=("rates", "adaptation", "adaptation_current", "network_size"))
def poisson_network(params: dict, seed: int) -> RunOutput:
    """Recurrent LIF + adaptive network under Poisson input, simulated in Brian2."""
    from brian2 import Hz

    from biolstm.brian import simulate
    from biolstm.encoding import poisson_spike_trains

    spec = poisson_network_spec(params, seed)
    if not params["simulate"]:
        return RunOutput(spec=spec)
    dt = spec.dt
    n_steps = int(round(params["duration_ms"] / params["dt_ms"]))
    inputs = poisson_spike_trains("poisson", int(params["n_inputs"]), params["input_rate_hz"] * Hz,
                                  n_steps, dt, int(params["n_samples"]), seed=[seed, 1])
    activity = simulate(spec, inputs, params["backend"], progress=False)
    early = max(1, int(round(params["early_ms"] / params["dt_ms"])))
    return RunOutput(spec=spec, activity=activity, extras={"early_steps": early})


NEURON_STEP_DEFAULTS = {
    "model": "ahp",            # "lif", "ahp" or "alif" (alif matched to the AHP parameters)
    "I_ext_pA": 300.0,         # current step amplitude
    "tau_m_ms": 20.0,
    "tau_ahp_ms": 700.0,
    "delta_I_ahp_pA": 24.0,
    "t_ref_ms": 0.0,
    "dt_ms": 0.1,
    "duration_ms": 2000.0,
    "early_ms": 100.0,
    "backend": "numpy",
}


@register_runner("neuron_step", defaults=NEURON_STEP_DEFAULTS,
                 metrics=("rates", "adaptation", "isi", "rate_theory"))
def neuron_step(params: dict, seed: int) -> RunOutput:
    """One neuron under a constant current step (Brian2): f-I curves and adaptation."""
    import dataclasses

    from brian2 import ms, pA

    from biolstm.brian.build import from_spec
    from biolstm.brian.run import run_description
    from biolstm.encoding import SpikeTrains
    from biolstm.neurons import AHPParams, ALIFParams, get_model
    from biolstm.spec import NetworkSpec, Population

    ahp = AHPParams(tau_m=params["tau_m_ms"] * ms, tau_ahp=params["tau_ahp_ms"] * ms,
                    delta_I_ahp=params["delta_I_ahp_pA"] * pA, t_ref=params["t_ref_ms"] * ms)
    model_name = params["model"]
    if model_name == "ahp":
        p = ahp
    elif model_name == "alif":
        p = ALIFParams.matched_to(ahp)
    elif model_name == "lif":
        p = get_model("lif").make_params({"tau_m": ahp.tau_m, "t_ref": ahp.t_ref})
    else:
        raise ValueError(f"model = {model_name!r} must be 'lif', 'ahp' or 'alif'")
    model = get_model(model_name)
    dt = params["dt_ms"] * ms
    n_steps = int(round(params["duration_ms"] / params["dt_ms"]))
    spec = NetworkSpec([Population("neuron", 1, model_name,
                                   {f.name: getattr(p, f.name) for f in dataclasses.fields(p)})], dt=dt)
    desc = from_spec(spec)
    # the current is a per-neuron value of the build: a compiled program takes any amplitude
    desc.groups[0].values["I_ext"] = np.array([float(params["I_ext_pA"] * pA)])
    activity = run_description(desc, SpikeTrains(1, n_steps, {}, {}), params["backend"],
                               progress=False, layout_metadata=False)
    early = max(1, int(round(params["early_ms"] / params["dt_ms"])))
    return RunOutput(activity=activity,
                     extras={"early_steps": early, "population_models": {"neuron": (model, p)}})


# --------------------------------------------------------------------------------------
# STORE-RECALL working memory (biolstm.tasks.store_recall, biolstm.workflows.store_recall)
# --------------------------------------------------------------------------------------

STORE_RECALL_DEFAULTS = {
    "model": "ahp",            # adaptive population: "ahp", "alif", "lif" (control); "lstm" (train only)
    "delay": 200,              # steps between STORE and RECALL
    "window": 20,
    "n_regular": 20,
    "n_adaptive": 40,
    "tau_ahp_ms": 700.0,
    "delta_I_ahp_pA": 24.0,
    "n_samples": 200,          # memory runner: samples for the decoder
    "simulator": "torch",      # memory runner: "torch" or "brian2"
    "iterations": 100,         # train runner
    "batch_size": 32,
    "lr": 1e-3,                # spiking; the LSTM uses lr_lstm
    "lr_lstm": 3e-3,
    "rate_reg": 100.0,         # firing-rate regulariser of the spiking networks
    "hidden": 32,              # LSTM units
    "test_samples": 200,
}


def _store_recall_setup(params: dict, seed: int):
    from brian2 import ms, pA

    from biolstm.neurons import AHPParams, ALIFParams
    from biolstm.tasks.store_recall import StoreRecallTask, store_recall_network

    task = StoreRecallTask(delay=int(params["delay"]), window=int(params["window"]))
    model = params["model"]
    ahp = AHPParams(tau_ahp=params["tau_ahp_ms"] * ms, delta_I_ahp=params["delta_I_ahp_pA"] * pA)
    overrides = {}
    if model == "ahp":
        overrides = {"ada": {"tau_ahp": ahp.tau_ahp, "delta_I_ahp": ahp.delta_I_ahp}}
    elif model == "alif":
        matched = ALIFParams.matched_to(ahp)
        overrides = {"ada": {"tau_a": matched.tau_a, "delta_theta": matched.delta_theta}}
    elif model != "lif":
        raise ValueError(f"model = {model!r}: spiking runs take 'ahp', 'alif' or 'lif'")
    spec = store_recall_network(task, int(params["n_regular"]), int(params["n_adaptive"]), model,
                                seed=seed, params=overrides)
    return task, spec


@register_runner("store_recall_memory", defaults=STORE_RECALL_DEFAULTS, metrics=("network_size",))
def store_recall_memory(params: dict, seed: int) -> RunOutput:
    """Memory of an untrained network: bit decodability after the STORE-RECALL delay."""
    from biolstm.workflows.store_recall import reservoir_memory

    task, spec = _store_recall_setup(params, seed)
    res = reservoir_memory(spec, task, int(params["n_samples"]), seed=seed,
                           simulator=params["simulator"])
    return RunOutput(spec=spec, metrics={"decoder_accuracy": res["accuracy"],
                                         "decoder_accuracy_sd": res["accuracy_sd"],
                                         "recall_rate_hz": res["recall_rate_hz"]})


@register_runner("store_recall_train", defaults=STORE_RECALL_DEFAULTS, metrics=())
def store_recall_train(params: dict, seed: int) -> RunOutput:
    """Train a spiking network (torch BPTT) or an LSTM on STORE-RECALL; test accuracy."""
    from biolstm.tasks.store_recall import StoreRecallTask
    from biolstm.workflows.store_recall import evaluate, train_lstm, train_spiking

    common = {"iterations": int(params["iterations"]), "batch_size": int(params["batch_size"]),
              "seed": seed, "progress": False}
    if params["model"] == "lstm":
        task = StoreRecallTask(delay=int(params["delay"]), window=int(params["window"]))
        model, hist = train_lstm(task, hidden=int(params["hidden"]), lr=float(params["lr_lstm"]),
                                 **common)
        spec = None
    else:
        task, spec = _store_recall_setup(params, seed)
        model, hist = train_spiking(spec, task, lr=float(params["lr"]),
                                    rate_reg=float(params["rate_reg"]), **common)
        spec = model.to_spec()
    metrics = {"test_accuracy": evaluate(model, task, int(params["test_samples"]), seed=10_000 + seed),
               "final_loss": float(hist[-1]["loss"]), "train_s": float(hist[-1]["seconds"])}
    if "rate" in hist[-1]:
        metrics["train_rate_per_step"] = float(hist[-1]["rate"])
    return RunOutput(spec=spec, metrics=metrics)


# --------------------------------------------------------------------------------------
# sMNIST training (biolstm.train.trainer, the sMNIST team's trainer)
# --------------------------------------------------------------------------------------

SMNIST_TRAIN_DEFAULTS = {
    "model": "ahp",            # "ahp", "alif", "lif" or "lstm"
    "n_regular": 140,
    "n_adaptive": 100,
    "hidden": 128,
    "density": 0.25,
    "quantize": True,
    "epochs": 1,
    "batch_size": 64,
    "lr": 1e-3,
    "train_samples": 0,        # 0: all of the default training split
    "test_samples": 200,
    "brian2_samples": 0,       # > 0: also run the trained network in Brian2 on this many digits
}


@register_runner("smnist_train", defaults=SMNIST_TRAIN_DEFAULTS, metrics=())
def smnist_train(params: dict, seed: int) -> RunOutput:
    """Train on sMNIST with biolstm's trainer (torch); test accuracy and rate (optionally Brian2)."""
    import tempfile

    import torch

    from biolstm.tasks import smnist
    from biolstm.train.config import TrainConfig
    from biolstm.train.trainer import evaluate, train

    torch.set_num_threads(1)
    cfg = TrainConfig(model=params["model"], n_regular=int(params["n_regular"]),
                      n_adaptive=int(params["n_adaptive"]), hidden=int(params["hidden"]),
                      density=float(params["density"]), quantize=bool(params["quantize"]),
                      epochs=int(params["epochs"]), batch_size=int(params["batch_size"]),
                      lr=float(params["lr"]), seed=seed, eval_samples=0)
    train_data, test_data = smnist.default_split()
    if params["train_samples"]:
        train_data = train_data.subset(int(params["train_samples"]), seed=seed)
    test_data = test_data.subset(int(params["test_samples"]), seed=0)
    with tempfile.TemporaryDirectory(prefix="biolstm_sweep_") as run_dir:
        result = train(cfg, run_dir, train_data, test_data, resume=False, progress=False)
    model = result["model"]
    ev = evaluate(model, test_data, cfg)
    metrics = {"test_accuracy": ev["accuracy"], "train_s": float(sum(h["epoch_s"] for h in result["history"]))}
    if "rate" in ev:
        metrics["test_rate_per_step"] = ev["rate"]
    out = RunOutput(metrics=metrics)
    if cfg.spiking:
        out.spec = model.to_spec()
        n = int(params["brian2_samples"])
        if n:
            from biolstm.brian import simulate

            sub = test_data.subset(n, seed=0)
            out.activity = simulate(out.spec, smnist.encode(sub.x), progress=False)
            out.extras["labels"] = sub.y
    return out


# --------------------------------------------------------------------------------------
# The sMNIST network, as shipped or scaled up (Loihi mapping and energy studies)
# --------------------------------------------------------------------------------------

SMNIST_NETWORK_DEFAULTS = {
    "weights": "random",       # "random" (untrained smnist_network) or "bundled" (trained, scale 1)
    "scale": 1.0,              # population sizes x scale (140*scale LIF, 100*scale adaptive)
    "model": "ahp",
    "density": 0.25,           # non-zero fraction of input/recurrent weights (random weights)
    "constant_fan_in": False,  # True: density / scale, so synapses grow linearly
    "n_digits": 5,             # test digits simulated
    "simulator": "torch",      # "torch" (float64, batched) or a Brian2 backend ("numpy", ...)
    "chip": "loihi1",
}


@register_runner("smnist_network", defaults=SMNIST_NETWORK_DEFAULTS,
                 metrics=("rates", "accuracy", "network_size"))
def smnist_network_run(params: dict, seed: int) -> RunOutput:
    """The sMNIST network (bundled trained weights, or random and scaled) on test digits."""
    from biolstm.tasks import smnist
    from biolstm.workflows import smnist_eval

    if params["weights"] == "bundled":
        if params["scale"] != 1.0:
            raise ValueError("weights = 'bundled' exists only at scale = 1")
        spec = smnist_eval.load_weights(None)
    elif params["weights"] == "random":
        scale = float(params["scale"])
        density = float(params["density"]) / (scale if params["constant_fan_in"] else 1.0)
        spec = smnist.smnist_network(int(round(140 * scale)), int(round(100 * scale)), params["model"],
                                     density=min(density, 1.0), seed=seed)
    else:
        raise ValueError(f"weights = {params['weights']!r} must be 'random' or 'bundled'")
    data = smnist_eval.test_data("default", int(params["n_digits"]), seed=seed)
    activity = smnist_eval.simulate_smnist(spec, data, backend=params["simulator"], progress=False)
    return RunOutput(spec=spec, activity=activity, extras={"labels": data.y})
