"""Import and export LSNN/Loihi-style integer weight files (Rao et al. 2022).

The paper's trained network comes as three ``.npy`` files of integer-valued weights
(``docs/sources.md`` P3):

========== ========== =============================================================
file       shape      meaning
========== ========== =============================================================
w_in.npy   (80, 240)  [input port, neuron]; neurons 0..n_regular-1 regular, rest adaptive
w_rec.npy  (240, 240) [source neuron, target neuron]
w_out.npy  (240, 10)  [neuron, output class]
========== ========== =============================================================

Each entry is an 8-bit magnitude with a sign (``|w| <= 255``); zero means no synapse.

:func:`import_lsnn` builds the NetworkSpec that reproduces the chip's dynamics
(docs/sources.md P1.4) in biolstm's float models:

* populations ``reg`` (lif, ``n_regular``), ``ada`` (ahp, the rest), ``out`` (li, 10);
  input group ``pixels`` (80 ports); readout ``out.v`` at the last step;
* every weight ``w`` becomes ``w / 127 * v_th`` volts (``v_th = 10 mV``): on the chip a
  regular or output target adds ``64 w`` to a threshold of ``127*64``, an adaptive target
  ``256 w`` to ``508*64``;
* the chip's effective time constants: ``tau_m = -dt/ln(1 - 204/4096)`` = 19.58 steps
  for every population, ``tau_ahp = -dt/ln(1 - 5/4096)`` = 819 steps;
* ``delta_I_ahp`` is set so that one spike adds, in the exact discretisation
  (``DiscreteModel.transition``), ``-384/32512 * v_th`` to the membrane in the next
  step, decaying by ``1 - 5/4096`` per step: the chip's aux compartment;
* no blocked refractory step (``refractoryDelay = 1``), reset to 0;
* ``metadata["loihi"]["volt_per_unit"]`` = ``{reg: v_th/8128, ada: v_th/32512,
  out: v_th/8128}``, so that the Loihi quantizer gets the paper's integers back.

:func:`export_lsnn` writes any NetworkSpec with those three populations back to
integer files, refusing weights that are not on the ``v_th/127`` grid.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

from biolstm.errors import BiolstmError
from biolstm.loihi.fixed_point import DECAY_ONE, VTH_SHIFT, WEIGHT_MANT_MAX, effective_weight
from biolstm.loihi.paper import PAPER

__all__ = [
    "LSNNImportError",
    "LOIHI_DECAY_V",
    "LOIHI_DECAY_AUX",
    "LOIHI_AUX_WEIGHT",
    "chip_parameters",
    "import_lsnn",
    "export_lsnn",
    "read_lsnn_files",
]

# The paper's chip configuration, read from its one home (biolstm.loihi.paper.PAPER).
LOIHI_DECAY_V = PAPER["decay_v"]
"""decayV of every compartment of the paper's network (int(4096/20))."""
LOIHI_DECAY_AUX = PAPER["aux_decay_v"]
"""decayV of the adaptive neurons' aux compartment (int(4096/700))."""
LOIHI_AUX_WEIGHT = int(effective_weight(PAPER["aux_weight_mant"], -PAPER["thr_ada_scale"]))
"""Effective main -> aux weight: 96 * 2^(6-4) = 384."""
THRESHOLD_REGULAR = PAPER["vth_mant"] << VTH_SHIFT
THRESHOLD_ADAPTIVE = (PAPER["vth_mant"] * PAPER["thr_ada_scale"]) << VTH_SHIFT
WEIGHT_SCALE = PAPER["vth_mant"]
MAX_WEIGHT = WEIGHT_MANT_MAX
N_INPUTS, N_OUTPUTS = PAPER["n_inputs"], PAPER["n_outputs"]
FILES = {"w_in": "w_in.npy", "w_rec": "w_rec.npy", "w_out": "w_out.npy"}


class LSNNImportError(BiolstmError, ValueError):
    """LSNN/Loihi-style weight files that cannot be imported."""


def chip_parameters(v_th=None, dt=None) -> dict:
    """Neuron parameters (Brian2 quantities) matching the chip's integer dynamics.

    Returns ``{"reg": {...}, "ada": {...}, "out": {...}}`` overrides for
    :class:`~biolstm.spec.Population`.
    """
    from brian2 import Mohm, amp, mV, ms, second

    from biolstm.neurons import get_model

    v_th = 10 * mV if v_th is None else v_th
    dt = 1 * ms if dt is None else dt
    tau_m = -float(dt) / math.log(1 - LOIHI_DECAY_V / DECAY_ONE) * second
    tau_ahp = -float(dt) / math.log(1 - LOIHI_DECAY_AUX / DECAY_ONE) * second
    base = {"tau_m": tau_m, "v_th": v_th, "v_rest": 0 * mV, "v_reset": 0 * mV,
            "R_m": 100 * Mohm, "t_ref": 0 * ms}
    ahp = get_model("ahp")
    probe = ahp.make_params({**base, "tau_ahp": tau_ahp, "delta_I_ahp": 1 * amp})
    dm = ahp.discrete(probe, dt)
    v_per_amp = dm.transition[dm.input_index, dm.state_names.index("I_ahp")]  # volt per amp
    target = -LOIHI_AUX_WEIGHT / THRESHOLD_ADAPTIVE * float(v_th)
    delta = target / v_per_amp
    return {
        "reg": dict(base),
        "ada": {**base, "tau_ahp": tau_ahp, "delta_I_ahp": delta * amp},
        "out": {"tau_m": tau_m, "v_rest": 0 * mV, "R_m": 100 * Mohm},
    }


def _check_matrix(name: str, w: np.ndarray, shape: tuple[int, int], where: str) -> np.ndarray:
    w = np.asarray(w)
    if w.shape != shape:
        layout = {"w_in": f"[input port, neuron]: {N_INPUTS} ports",
                  "w_rec": "[source neuron, target]",
                  "w_out": f"[neuron, class]: {N_OUTPUTS} classes"}[name]
        raise LSNNImportError(
            f"{where}: {name} has shape {w.shape}, expected {shape} ({layout}; the number of "
            f"neurons, {shape[0] if name == 'w_out' else shape[1]}, is the size of the square w_rec)")
    if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise LSNNImportError(f"{where}: {name} has dtype {w.dtype}; expected integer-valued numbers")
    w = w.astype(float)
    bad = ~np.isfinite(w)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise LSNNImportError(f"{where}: {name}[{i}, {j}] = {float(w[i, j])} is not finite")
    frac = w != np.round(w)
    if frac.any():
        i, j = np.argwhere(frac)[0]
        raise LSNNImportError(
            f"{where}: {name}[{i}, {j}] = {float(w[i, j])!r} is not an integer; Loihi-style files hold "
            f"integer weights (8-bit magnitude and sign); {int(frac.sum())} entries are fractional")
    big = np.abs(w) > MAX_WEIGHT
    if big.any():
        i, j = np.argwhere(big)[0]
        raise LSNNImportError(
            f"{where}: {name}[{i}, {j}] = {int(w[i, j])} exceeds the 8-bit magnitude limit "
            f"|w| <= {MAX_WEIGHT} ({int(big.sum())} entries); rescale the weights")
    return w


def read_lsnn_files(directory: str | Path) -> dict[str, np.ndarray]:
    """Read ``w_in.npy``, ``w_rec.npy``, ``w_out.npy`` from ``directory`` (no pickles)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LSNNImportError(
            f"{directory} is not a folder; give the folder that holds w_in.npy, w_rec.npy, w_out.npy")
    out = {}
    for key, fname in FILES.items():
        path = directory / fname
        if not path.is_file():
            raise LSNNImportError(f"{path} is missing; an LSNN weight folder needs {sorted(FILES.values())}")
        try:
            out[key] = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise LSNNImportError(f"{path} is not a readable .npy array ({err})") from None
    return out


def import_lsnn(
    source: str | Path | Mapping[str, np.ndarray],
    n_regular: int = 140,
    *,
    v_th=None,
    dt=None,
):
    """Build a NetworkSpec from LSNN/Loihi-style integer weights.

    Parameters
    ----------
    source : folder path, or mapping with ``w_in`` [80, N], ``w_rec`` [N, N], ``w_out`` [N, 10]
    n_regular : int
        Neurons ``0..n_regular-1`` are regular (LIF), the rest adaptive (AHP).
    v_th : Quantity, optional
        Threshold of the float model (default 10 mV); every weight is ``w/127*v_th``.
    dt : Quantity, optional
        Time step (default 1 ms = one Loihi step).

    Raises
    ------
    LSNNImportError
        Missing files, wrong shapes, non-integer, non-finite or out-of-range weights.
    """
    from brian2 import mV, ms, volt

    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    where = str(source) if isinstance(source, (str, Path)) else "LSNN weights"
    arrays = read_lsnn_files(source) if isinstance(source, (str, Path)) else dict(source)
    missing = sorted(set(FILES) - set(arrays))
    if missing:
        raise LSNNImportError(f"{where}: missing {missing}; need w_in, w_rec and w_out")
    w_rec0 = np.asarray(arrays["w_rec"])
    if w_rec0.ndim != 2 or w_rec0.shape[0] != w_rec0.shape[1]:
        raise LSNNImportError(f"{where}: w_rec has shape {w_rec0.shape}, expected a square [N, N] matrix")
    n = w_rec0.shape[0]
    w_in = _check_matrix("w_in", arrays["w_in"], (N_INPUTS, n), where)
    w_rec = _check_matrix("w_rec", w_rec0, (n, n), where)
    w_out = _check_matrix("w_out", arrays["w_out"], (n, N_OUTPUTS), where)
    if isinstance(n_regular, bool) or not isinstance(n_regular, (int, np.integer)) or not 0 <= n_regular < n:
        raise LSNNImportError(
            f"{where}: n_regular={n_regular!r} must be an integer in 0..{n - 1} (the first "
            f"n_regular of the {n} neurons are regular, the rest adaptive)")
    v_th = 10 * mV if v_th is None else v_th
    dt = 1 * ms if dt is None else dt
    params = chip_parameters(v_th, dt)
    n_ada = n - n_regular
    unit = float(v_th) / WEIGHT_SCALE
    pops = ([Population("reg", n_regular, "lif", params["reg"])] if n_regular else [])
    pops += [Population("ada", n_ada, "ahp", params["ada"]), Population("out", N_OUTPUTS, "li", params["out"])]
    blocks = {"reg": slice(0, n_regular), "ada": slice(n_regular, n)}
    names = [p.name for p in pops if p.model != "li"]
    projections = []
    for post in names:
        projections.append(Projection(f"in_{post}", "pixels", post, w_in[:, blocks[post]] * unit,
                                      weight_unit=volt))
    for pre in names:
        for post in names:
            projections.append(Projection(f"{pre}_{post}", pre, post,
                                          w_rec[blocks[pre], blocks[post]] * unit, weight_unit=volt))
    for pre in names:
        projections.append(Projection(f"{pre}_out", pre, "out", w_out[blocks[pre]] * unit,
                                      weight_unit=volt))
    vpu = {"reg": float(v_th) / THRESHOLD_REGULAR, "ada": float(v_th) / THRESHOLD_ADAPTIVE,
           "out": float(v_th) / THRESHOLD_REGULAR}
    metadata = {
        "task": "smnist",
        "source": f"LSNN/Loihi-style integer weights ({where})",
        "loihi": {"volt_per_unit": {k: v for k, v in vpu.items() if k in {p.name for p in pops}},
                  "thr_ada_scale": PAPER["thr_ada_scale"], "aux_weight": LOIHI_AUX_WEIGHT,
                  "decay_v": LOIHI_DECAY_V, "decay_aux": LOIHI_DECAY_AUX},
        "n_regular": int(n_regular),
        "excitatory_rows": {"w_rec": _row_signs(w_rec), "w_out": _row_signs(w_out)},
    }
    spec = NetworkSpec(pops, projections,
                       [InputGroup("pixels", N_INPUTS)], Readout("out", "v", "last"), dt=dt,
                       metadata=metadata)
    return spec


def _row_signs(w: np.ndarray) -> dict[str, int]:
    pos = (w > 0).any(axis=1)
    neg = (w < 0).any(axis=1)
    return {"excitatory": int((pos & ~neg).sum()), "inhibitory": int((neg & ~pos).sum()),
            "mixed": int((pos & neg).sum()), "silent": int((~pos & ~neg).sum())}


def export_lsnn(spec, directory: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
    """Write ``w_in.npy``, ``w_rec.npy``, ``w_out.npy`` (float32, integer-valued).

    ``spec`` must have the populations ``reg`` (optional), ``ada`` and ``out`` (10),
    input ``pixels`` (80), and weights on the grid ``k * v_th/127`` with ``|k| <= 255``
    (e.g. a network trained with 8-bit weights). ``v_th`` is read from ``reg`` (or
    ``ada``) and must be the same for both.
    """
    from biolstm.fileio import atomic_writer

    names = [p.name for p in spec.populations]
    if "ada" not in names or "out" not in names:
        raise LSNNImportError(f"export_lsnn needs populations 'ada' and 'out' (and optionally 'reg'); got {names}")
    spiking = [n for n in ("reg", "ada") if n in names]
    v_ths = {n: float(spec.population(n).neuron_params().v_th) for n in spiking}
    if len(set(v_ths.values())) != 1:
        raise LSNNImportError(f"export_lsnn: populations have different v_th {v_ths}; the files share one grid")
    unit = next(iter(v_ths.values())) / WEIGHT_SCALE
    sizes = {n: spec.population(n).size for n in spiking}
    offsets = {"reg": 0, "ada": sizes.get("reg", 0)}
    n = sum(sizes.values())
    w_in, w_rec, w_out = np.zeros((N_INPUTS, n)), np.zeros((n, n)), np.zeros((n, N_OUTPUTS))
    for proj in spec.projections:
        w = proj.dense() / unit
        k = np.round(w)
        # 1e-4 of a grid step: above float32 round-off of |k| <= 255 (trained weights are float32)
        if np.abs(w - k).max(initial=0) > 1e-4 or np.abs(k).max(initial=0) > MAX_WEIGHT:
            raise LSNNImportError(
                f"projection '{proj.name}' is not on the 8-bit grid k*v_th/127, |k| <= 255 "
                f"(largest |k| {np.abs(w).max():.3f}, largest rounding error {np.abs(w - k).max():.3g}); "
                f"train with quantized weights or quantize first")
        post = slice(offsets.get(proj.post, 0), offsets.get(proj.post, 0) + sizes.get(proj.post, N_OUTPUTS))
        if proj.pre == "pixels":
            w_in[:, post] += k
        elif proj.post == "out":
            w_out[offsets[proj.pre]:offsets[proj.pre] + sizes[proj.pre]] += k
        else:
            w_rec[offsets[proj.pre]:offsets[proj.pre] + sizes[proj.pre], post] += k
    directory = Path(directory)
    out = {}
    for key, arr in (("w_in", w_in), ("w_rec", w_rec), ("w_out", w_out)):
        path = directory / FILES[key]
        with atomic_writer(path, overwrite=overwrite) as fh:
            np.save(fh, arr.astype(np.float32), allow_pickle=False)
        out[key] = path
    return out
