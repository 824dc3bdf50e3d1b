"""Run a biolstm network exported to NIR in snnTorch and compare its spikes with Brian2.

    python scripts/nir_crosscheck.py                  # 20 test digits -> results/nir/
    python scripts/nir_crosscheck.py --samples 5 --out /tmp/nir

The network is LIF only (snnTorch has no leaky-integrator readout): 80 sMNIST input
channels -> 64 recurrent LIF neurons ``hid`` -> 10 LIF neurons ``out``, random weights
(seed 0), exported with :func:`biolstm.convert.nir_export.to_nir` and read by
``snntorch.import_nir.import_from_nir`` (snnTorch 1.0, nirtorch 2.6). Four runs of the
same test digits:

1. Brian2 (numpy backend), exact integration, ``dt = 1 ms``: the reference.
2. snnTorch on the graph as written. snnTorch's importer fixes its step to
   ``dt = 1e-4 s`` and discretises ``beta = 1 - dt/tau`` (forward Euler), so a
   ``tau_m = 20 ms`` neuron decays by 0.995 per step instead of ``exp(-1/20)`` = 0.951,
   and since ``r*dt/tau`` = 0.1 for its dt it raises the threshold tenfold instead of
   scaling the weights: a different network, measured here.
3. snnTorch on the graph with each LIF's ``tau`` set to ``1e-4/(1 - exp(-dt/tau))`` and
   ``r = tau/1e-4``: its Euler step then has exactly Brian2's decay and weight gain, i.e.
   the same discretisation. In float32 (snnTorch's default) and
4. the same in float64.

Timing: input spikes reach ``hid`` in the same step in both; the recurrent edge is
delivered one step later in both (biolstm's implicit delay; nirtorch's previous-output
state for the cycle); the feed-forward edge ``hid -> out`` arrives one step later in
biolstm and in the same step in snnTorch, so ``out`` spikes are compared with snnTorch's
shifted by one step. Results go to ``OUT/crosscheck.json`` and ``OUT/crosscheck.md``.

The AHP loop: snnTorch's importer maps no ``LI`` node (the loop's integrator), so it
cannot run an exported AHP network; the script records the error it gives.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

SNN_DT = 1e-4  # snnTorch 1.0 import_nir.py: "dt = 1e-4" for LIF nodes


def lif_network(seed: int = 0):
    """The LIF-only NetworkSpec (80 -> 64 recurrent -> 10), all LIF defaults (tau_m 20 ms, v_th 10 mV)."""
    from brian2 import volt

    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    rng = np.random.default_rng(seed)
    w_in = rng.normal(0.5, 1.5, (80, 64)) * (rng.random((80, 64)) < 0.3) * 1e-3
    w_rec = rng.normal(0, 1.2, (64, 64)) * (rng.random((64, 64)) < 0.2) * 1e-3
    w_out = rng.normal(1, 2, (64, 10)) * (rng.random((64, 10)) < 0.5) * 1e-3
    return NetworkSpec(
        [Population("hid", 64, "lif"), Population("out", 10, "lif")],
        [Projection("in_hid", "pixels", "hid", w_in, weight_unit=volt),
         Projection("hid_hid", "hid", "hid", w_rec, weight_unit=volt),
         Projection("hid_out", "hid", "out", w_out, weight_unit=volt)],
        [InputGroup("pixels", 80)], Readout("out"))


def for_snntorch_step(graph, dt: float):
    """A copy of ``graph`` whose LIF nodes give snnTorch's Euler step Brian2's exact decay and gain."""
    out = copy.deepcopy(graph)
    for node in out.nodes.values():
        if type(node).__name__ == "LIF":
            decay = np.exp(-dt / node.tau)
            node.tau = SNN_DT / (1 - decay)
            node.r = node.tau / SNN_DT
    return out


def snntorch_model(graph, shipped: bool):
    """snnTorch's modules for ``graph``.

    ``shipped=True``: ``snntorch.import_nir.import_from_nir`` as released. It rewrites
    each recurrent LIF into a nested graph whose input edge enters the recurrent
    ``Linear`` (``_create_rnn_subgraph``: ``(input, W_rec)``) and leaves that graph to
    nirtorch, which runs it as wired, so the input current is multiplied by ``W_rec``
    (snnTorch's own ``RLeaky`` mapping of such graphs is not in its node map).
    ``shipped=False``: the same per-node converter (``_nir_to_snntorch_module``) on the
    flat graph through ``nirtorch.nir_to_torch``, which runs the cycle with the previous
    step's output.
    """
    import nir
    import nirtorch
    from snntorch import import_nir

    if shipped:
        return import_nir.import_from_nir(copy.deepcopy(graph)), "hid.hid"
    convert = lambda node: import_nir._nir_to_snntorch_module(node, init_hidden=True)  # noqa: E731
    node_map = {nir.Linear: convert, nir.Affine: convert, nir.LIF: convert}
    return nirtorch.nir_to_torch(copy.deepcopy(graph), node_map), "hid"


def run_snntorch(graph, x: np.ndarray, dtype, shipped: bool) -> dict[str, np.ndarray]:
    """Step snnTorch's version of ``graph`` through ``x`` [steps, batch, 80]; spikes per layer [steps, batch, n]."""
    import snntorch
    import torch

    model, hid_name = snntorch_model(graph, shipped)
    model = model.to(dtype)
    recorded: dict[str, list] = {"hid": []}
    modules = dict(model.named_modules())
    for module in modules.values():  # snnTorch's spikes are float32 ((x > 0).float()); keep dtype
        if isinstance(module, snntorch.Leaky):
            module.register_forward_hook(lambda m, i, o: o.to(dtype))
    modules[hid_name].register_forward_hook(lambda m, i, o: recorded["hid"].append(o.detach().clone()))
    state = None
    outs = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk, state = model(torch.as_tensor(x[t], dtype=dtype), state)
            outs.append(spk.detach().clone())
    return {"hid": torch.stack(recorded["hid"]).numpy().astype(bool),
            "out": torch.stack(outs).numpy().astype(bool)}


def brian_spikes(activity, population: str, steps: int, batch: int, size: int) -> np.ndarray:
    dense = np.zeros((steps, batch, size), dtype=bool)
    ev = activity.spikes[population]
    dense[ev[:, 1], ev[:, 0], ev[:, 2]] = True
    return dense


def compare(ref: dict, other: dict, shift_out: int) -> dict:
    """Spike agreement per layer; ``out`` of ``other`` is moved ``shift_out`` steps later."""
    res = {}
    for pop in ("hid", "out"):
        a, b = ref[pop], other[pop]
        if pop == "out" and shift_out:
            b = np.concatenate([np.zeros_like(b[:shift_out]), b[:-shift_out]])
        both, either = np.sum(a & b), np.sum(a | b)
        diff_steps = np.flatnonzero(np.any(a != b, axis=(1, 2)))
        res[pop] = {"spikes_brian2": int(a.sum()), "spikes_other": int(b.sum()),
                    "identical_fraction": float(both / either) if either else 1.0,
                    "first_differing_step": int(diff_steps[0]) if len(diff_steps) else None,
                    "samples_identical": int(np.sum(np.all(a == b, axis=(0, 2))))}
    return res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="test digits (default 20)")
    parser.add_argument("--out", default="results/nir", help="output folder (default results/nir)")
    args = parser.parse_args(argv)
    try:
        import snntorch
        import torch
    except ImportError as err:
        print(f"error: snnTorch is not installed ({err}); pip install --no-deps snntorch==1.0.0 "
              f"nirtorch==2.6 (torch is already a dependency)", file=sys.stderr)
        return 2
    import nir
    import nirtorch

    from biolstm.brian import simulate
    from biolstm.convert.nir_export import to_nir
    from biolstm.fileio import atomic_write_text
    from biolstm.tasks import smnist
    from biolstm.workflows.smnist_eval import test_data

    spec = lif_network()
    graph = to_nir(spec)
    data = test_data("default", args.samples, seed=0)
    inputs = smnist.encode(data.x, "pixels")
    steps, batch = inputs.n_steps, inputs.n_samples
    x = np.zeros((steps, batch, 80), dtype=np.float64)
    ev = inputs.events["pixels"]
    x[ev[:, 1], ev[:, 0], ev[:, 2]] = 1.0

    t0 = time.perf_counter()
    act = simulate(spec, inputs, "numpy", progress=False)
    ref = {p: brian_spikes(act, p, steps, batch, spec.population(p).size) for p in ("hid", "out")}
    runs = {"brian2_numpy_s": time.perf_counter() - t0}
    results = {}
    matched = for_snntorch_step(graph, float(spec.dt))
    for label, g, dtype, shipped in [
            ("import_from_nir, as written, float32", graph, torch.float32, True),
            ("import_from_nir, matched step, float32", matched, torch.float32, True),
            ("flat graph, as written, float32", graph, torch.float32, False),
            ("flat graph, matched step, float32", matched, torch.float32, False),
            ("flat graph, matched step, float64", matched, torch.float64, False)]:
        t0 = time.perf_counter()
        spikes = run_snntorch(g, x, dtype, shipped)
        runs[f"snntorch_{label}_s"] = time.perf_counter() - t0
        results[label] = {"out_shift_0": compare(ref, spikes, 0), "out_shift_1": compare(ref, spikes, 1)}

    from biolstm.workflows.smnist_eval import bundled_network_path
    from biolstm.spec import NetworkSpec

    ahp_graph = to_nir(NetworkSpec.load(bundled_network_path()))
    try:
        from snntorch.import_nir import import_from_nir

        import_from_nir(copy.deepcopy(ahp_graph))
        ahp = "imported without error (not expected; check the module it built)"
    except Exception as err:  # whatever snnTorch raises is the finding
        ahp = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"

    report = {
        "network": "80 sMNIST channels -> 64 recurrent LIF -> 10 LIF, random weights seed 0, LIF defaults",
        "data": data.description, "samples": batch, "steps": steps, "dt_s": float(spec.dt),
        "versions": {"snntorch": snntorch.__version__, "nirtorch": nirtorch.__version__,
                     "nir": nir.__version__, "torch": torch.__version__},
        "comparisons": results, "wall_s": runs, "snntorch_on_bundled_ahp_network": ahp,
    }
    out = Path(args.out)
    atomic_write_text(out / "crosscheck.json", json.dumps(report, indent=1) + "\n", overwrite=True)
    lines = [f"# NIR cross-check: biolstm (Brian2) vs snnTorch {snntorch.__version__}", "",
             f"{report['network']}; {batch} test digits x {steps} steps ({data.description}).",
             "`out` spikes of snnTorch moved one step later (biolstm delivers population spikes one step later; "
             "snnTorch runs the feed-forward edge in the same step).", "",
             "| snnTorch run | hid spikes (Brian2 / snnTorch) | hid identical | out spikes (Brian2 / snnTorch) "
             "| out identical, shifted 1 step | out identical, unshifted |", "|---|---|---|---|---|---|"]
    for label, r in results.items():
        h, o, o0 = r["out_shift_1"]["hid"], r["out_shift_1"]["out"], r["out_shift_0"]["out"]
        lines.append(f"| {label} | {h['spikes_brian2']} / {h['spikes_other']} | {100 * h['identical_fraction']:.2f} % "
                     f"| {o['spikes_brian2']} / {o0['spikes_other']} | {100 * o['identical_fraction']:.2f} % "
                     f"| {100 * o0['identical_fraction']:.2f} % |")
    lines += ["", f"snnTorch on the bundled AHP network's NIR graph: {ahp}", ""]
    atomic_write_text(out / "crosscheck.md", "\n".join(lines), overwrite=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
