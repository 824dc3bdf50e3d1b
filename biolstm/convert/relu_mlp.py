"""Trained ReLU MLPs -> rate-coded LIF layers of a :class:`~biolstm.spec.NetworkSpec`.

``convert_relu_mlp(model, calibration)`` takes a torch ``nn.Sequential`` of ``nn.Linear``
and ``nn.ReLU`` (or a list of ``(W [in, out], b [out])`` arrays) and returns a
:class:`ConvertedMLP`: a NetworkSpec with one non-leaky LIF population per hidden ReLU
layer, an always-on ``bias`` input channel, and, when the MLP ends in a ``Linear``, a
non-spiking integrating readout whose voltage at the last step estimates the logits.

**Rate code.** Input ``x >= 0`` becomes spikes of the ``input`` group at ``input_rate *
x / lambda_0`` spikes per step (regular trains, ``floor(T*r)`` spikes in ``T`` steps, or
Bernoulli). A hidden neuron of layer ``l`` fires at about ``max_rate * a_l / lambda_l``
spikes per step, ``a_l`` being the ReLU activation.

**Data-based normalisation** (Diehl et al. 2015, "Fast-classifying, high-accuracy spiking
deep networks through weight and threshold balancing", IJCNN; Rueckauer et al. 2017,
Front. Neurosci. 11:682, Sec. 2.3, "robust normalization"): ``lambda_l`` is the
``percentile`` (default 99.9) of the layer's positive activations on the calibration data
(of ``|logits|`` for the readout; ``lambda_0`` the inputs' maximum unless given). With
``rho_l`` the layer's rate at ``lambda_l`` (``input_rate`` for the input, ``max_rate`` for
hidden layers, 1 for the readout) the weights and biases become, in units of ``v_th``::

    W'_l = W_l * (rho_l / lambda_l) * (lambda_{l-1} / rho_{l-1}),   b'_l = b_l * rho_l / lambda_l

so the drive per step of a neuron is ``rho_l * a_l / lambda_l``: an integrate-and-fire
neuron whose reset subtracts the threshold fires at exactly that rate on average.

**Biases** are the weights of a one-channel input group ``bias`` that spikes at every
step (:meth:`ConvertedMLP.input_spikes` adds it). A NetworkSpec has no per-neuron
constant drive (population parameters such as ``v_rest`` are one value per population,
and ``v_rest`` acts only through the leak, which rate conversion does not want), while an
input channel with a weight per target is exact in every simulator and maps onto Loihi as
one input axon per core it reaches (one synaptic event per neuron and step). On Loihi a
per-compartment bias would do the same without those events; a NetworkSpec cannot say it.

**Reset.** biolstm's LIF resets to ``v_reset = 0`` (as Loihi 1 does) and fires on
``v > v_th`` (strict). With a constant drive ``I`` per step it therefore fires every
``k = floor(v_th/I) + 1`` steps, ``floor(t/k)`` spikes in ``t`` steps, where a neuron
that subtracts the threshold fires ``floor(t*I/v_th)`` times (``>=``) -- the residual
charge above threshold is lost at each spike, so rates come out at
``I/(v_th + I*(1 - frac))`` rather than ``I/v_th``, a compression that grows with the
rate. ``max_rate`` below 1 keeps neurons in the nearly linear part (at the cost of more
steps per sample); :func:`if_reference` runs the same weights with either reset to
measure the effect (``scripts/relu_conversion.py``).

**Neurons.** Hidden layers are ``lif`` with ``tau_m = 1e18*dt`` (no leak: the one-step
decay ``exp(-dt/tau_m)`` is 1 in float64, Loihi decayV 0), ``v_th`` (default 10 mV),
``v_reset = 0``, no refractory step. The readout is ``li`` with the same ``tau_m``, i.e. a
pure integrator (the paper's bAbI readout integrates likewise in its last steps), read at
the last step. An MLP ending in ``ReLU`` ends in a spiking layer instead (no readout);
its rates are the output (:meth:`ConvertedMLP.output_values`).

Spikes of a population reach the next layer one step later (NetworkSpec convention), so
the readout of an MLP with ``L`` layers starts to receive spikes after ``L - 1`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
from brian2 import Quantity, mV, ms, volt

from biolstm.errors import BiolstmError
from biolstm.neurons import NO_LEAK_STEPS

__all__ = [
    "ReLUConversionError",
    "DenseLayer",
    "mlp_layers",
    "relu_forward",
    "layer_scales",
    "ConvertedMLP",
    "convert_relu_mlp",
    "rate_code",
    "if_reference",
    "NO_LEAK_STEPS",
]



class ReLUConversionError(BiolstmError, ValueError):
    """An MLP, calibration set or option the ReLU converter cannot use."""


@dataclass(frozen=True)
class DenseLayer:
    """One affine layer ``a = relu?(x @ weight + bias)``.

    Attributes
    ----------
    weight : ndarray float64 [n_in, n_out]
    bias : ndarray float64 [n_out]
    relu : bool
        Followed by a ReLU (hidden layer) or not (the logits).
    """

    weight: np.ndarray
    bias: np.ndarray
    relu: bool

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[1])


def _as_array(value: Any, what: str) -> np.ndarray:
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover - torch is optional here
        pass
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ReLUConversionError(f"{what} holds NaN or infinite values; every weight and bias must be finite")
    return arr


def mlp_layers(model: Any, *, last_relu: bool | None = None) -> list[DenseLayer]:
    """The affine layers of a ReLU MLP, weights ``[n_in, n_out]`` in float64.

    Parameters
    ----------
    model : torch ``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU``, or a sequence of
        ``(W [n_in, n_out], b [n_out])`` pairs (numpy or torch)
        In the ``nn.Sequential`` every ``Linear`` but possibly the last is followed by
        exactly one ``ReLU``; a trailing ``ReLU`` makes the last layer a ReLU layer too.
    last_relu : bool, optional
        For a sequence of pairs: whether the last layer has a ReLU (default False: the
        last layer gives logits). Not allowed with an ``nn.Sequential``.

    Raises
    ------
    ReLUConversionError
        For any module other than ``Linear``/``ReLU`` (named with its index), two
        ``Linear`` without a ``ReLU`` between them, a leading or doubled ``ReLU``, a
        ``Linear`` without bias handled as zero bias (not an error), or mismatched shapes.
    """
    try:
        from torch import nn
    except ImportError:  # pragma: no cover
        nn = None
    layers: list[DenseLayer] = []
    if nn is not None and isinstance(model, nn.Module):
        if last_relu is not None:
            raise ReLUConversionError(
                "last_relu is only for a list of (W, b) pairs; an nn.Sequential says it by ending "
                "in ReLU or not")
        if not isinstance(model, nn.Sequential):
            raise ReLUConversionError(
                f"the model is a {type(model).__name__}; the converter takes an nn.Sequential of "
                f"nn.Linear and nn.ReLU (e.g. nn.Sequential(nn.Linear(784, 100), nn.ReLU(), "
                f"nn.Linear(100, 10))) or a list of (W [in, out], b [out]) arrays")
        modules = list(model)
        if not modules:
            raise ReLUConversionError("the nn.Sequential is empty; it needs at least one nn.Linear")
        pending: tuple[np.ndarray, np.ndarray] | None = None
        for k, mod in enumerate(modules):
            if isinstance(mod, nn.Linear):
                if pending is not None:
                    raise ReLUConversionError(
                        f"module {k} ({mod}) follows another Linear without a ReLU between them; "
                        f"rate-coded layers cannot carry negative activations: put an nn.ReLU() "
                        f"between them or merge the two Linear layers into one")
                w = _as_array(mod.weight, f"module {k} ({mod}) weight").T.copy()
                b = (_as_array(mod.bias, f"module {k} ({mod}) bias") if mod.bias is not None
                     else np.zeros(w.shape[1]))
                pending = (w, b)
            elif isinstance(mod, nn.ReLU):
                if pending is None:
                    raise ReLUConversionError(
                        f"module {k} (ReLU) does not follow a Linear layer; the model must be "
                        f"Linear, ReLU, Linear, ReLU, ..., Linear[, ReLU]")
                layers.append(DenseLayer(pending[0], pending[1], True))
                pending = None
            else:
                raise ReLUConversionError(
                    f"module {k} of the nn.Sequential is {type(mod).__name__} ({mod}); the ReLU "
                    f"converter takes only nn.Linear and nn.ReLU (remove Dropout/Identity, which do "
                    f"nothing at inference, and fold BatchNorm into the preceding Linear first)")
        if pending is not None:
            layers.append(DenseLayer(pending[0], pending[1], False))
    else:
        if isinstance(model, (str, bytes)) or not isinstance(model, Sequence) or not model:
            raise ReLUConversionError(
                f"the model is a {type(model).__name__}; give an nn.Sequential of nn.Linear and "
                f"nn.ReLU or a non-empty list of (W [in, out], b [out]) pairs")
        for k, pair in enumerate(model):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ReLUConversionError(
                    f"layer {k} is a {type(pair).__name__}; each layer must be a pair (W [in, out], b [out])")
            w = _as_array(pair[0], f"layer {k} weight")
            b = _as_array(pair[1], f"layer {k} bias")
            if w.ndim != 2 or b.shape != (w.shape[1] if w.ndim == 2 else -1,):
                raise ReLUConversionError(
                    f"layer {k}: W has shape {w.shape} and b {b.shape}; W must be [n_in, n_out] and "
                    f"b [n_out] (note: torch's nn.Linear.weight is [out, in], pass its transpose)")
            relu = k < len(model) - 1 or bool(last_relu)
            layers.append(DenseLayer(w.copy(), b.copy(), relu))
    for k in range(1, len(layers)):
        if layers[k].n_in != layers[k - 1].n_out:
            raise ReLUConversionError(
                f"layer {k} takes {layers[k].n_in} inputs but layer {k - 1} gives {layers[k - 1].n_out}")
    return layers


def relu_forward(layers: Sequence[DenseLayer], x: np.ndarray) -> list[np.ndarray]:
    """Activations of every layer for inputs ``x`` [N, n_in] (float64), one array per layer."""
    out = []
    h = np.asarray(x, dtype=float)
    for layer in layers:
        h = h @ layer.weight + layer.bias
        if layer.relu:
            h = np.maximum(h, 0.0)
        out.append(h)
    return out


def _check_inputs(x: Any, n_in: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ReLUConversionError(f"{what} has shape {x.shape}; it must be [n_samples, {n_in}]")
    if len(x) == 0:
        raise ReLUConversionError(f"{what} holds no samples")
    if not np.all(np.isfinite(x)):
        raise ReLUConversionError(f"{what} holds NaN or infinite values")
    if x.min() < 0:
        raise ReLUConversionError(
            f"{what} has negative values (min {x.min():.4g}); a rate code carries only x >= 0: shift "
            f"or rescale the inputs (and fold the shift into the first layer's bias)")
    return x


def layer_scales(layers: Sequence[DenseLayer], calibration: np.ndarray, percentile: float = 99.9,
                 input_scale: float | None = None) -> tuple[float, list[float]]:
    """``(lambda_0, [lambda_1, ..., lambda_L])`` on the calibration inputs (see the module docstring).

    ``lambda_l`` is the ``percentile`` of the positive activations of a ReLU layer, of
    ``|z|`` for a logits layer; ``lambda_0`` is ``input_scale`` or the largest input.
    """
    if not 0 < percentile <= 100:
        raise ReLUConversionError(f"percentile = {percentile} must be in (0, 100] (Rueckauer et al.: 99.9)")
    x = _check_inputs(calibration, layers[0].n_in, "the calibration data")
    lam0 = float(x.max()) if input_scale is None else float(input_scale)
    if not lam0 > 0 or not np.isfinite(lam0):
        raise ReLUConversionError(
            f"input scale {lam0!r} must be positive and finite (the calibration inputs are all 0?)")
    scales = []
    for k, (layer, act) in enumerate(zip(layers, relu_forward(layers, x))):
        values = act[act > 0] if layer.relu else np.abs(act[act != 0])
        if values.size == 0:
            raise ReLUConversionError(
                f"layer {k} is silent (all activations 0) on all {len(x)} calibration samples; "
                f"calibrate with data that activates it, or remove the dead layer")
        scales.append(float(np.percentile(values, percentile)))
    return lam0, scales


def rate_code(x: np.ndarray, n_steps: int, *, method: str = "regular", seed: int | None = 0) -> np.ndarray:
    """Spikes ``bool [N, n_steps, C]`` for rates ``x`` [N, C] in spikes per step (0..1).

    ``regular``: channel ``c`` fires at step ``t`` when ``floor((t+1)*x) > floor(t*x)``,
    i.e. ``floor(n_steps*x)`` spikes, evenly spaced (an IF neuron with subtractive reset);
    ``bernoulli``: independently with probability ``x`` per step.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ReLUConversionError(f"rates have shape {x.shape}; they must be [n_samples, n_channels]")
    if x.size and (x.min() < 0 or x.max() > 1 + 1e-12):
        raise ReLUConversionError(f"rates span {x.min():.4g}..{x.max():.4g}; they must be in 0..1 spikes per step")
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ReLUConversionError(f"n_steps = {n_steps!r} must be a positive integer")
    x = np.clip(x, 0.0, 1.0)
    if method == "regular":
        t = np.arange(n_steps + 1, dtype=float)[None, :, None]
        # a tiny margin so that x = k/n gives exactly k spikes in n steps despite rounding
        count = np.floor(t * x[:, None, :] + 1e-9)
        return np.diff(count, axis=1) > 0
    if method == "bernoulli":
        rng = np.random.default_rng(seed)
        return rng.random((x.shape[0], n_steps, x.shape[1])) < x[:, None, :]
    raise ReLUConversionError(f"method {method!r} is not one of 'regular', 'bernoulli'")


@dataclass
class ConvertedMLP:
    """A converted MLP: the NetworkSpec and what is needed to feed it and read it.

    Attributes
    ----------
    spec : NetworkSpec
        Input groups ``input`` (n_in channels) and ``bias`` (1 channel), populations
        ``h1..h{L-1}`` (``lif``) and ``out`` (``li`` readout, or ``lif`` when the MLP
        ends in ReLU), projections ``input_h1``, ``h1_h2``, ..., ``bias_h1``, ...
    layers : list of DenseLayer
        The original float layers.
    input_scale : float
        ``lambda_0``.
    scales : list of float
        ``lambda_1..lambda_L``.
    rates : list of float
        ``rho_0..rho_L``: spikes per step at ``lambda_l`` (input_rate, max_rate..., 1 for a readout).
    normalised : list of (ndarray, ndarray)
        ``(W'_l, b'_l)`` in units of ``v_th`` per spike / per step.
    """

    spec: Any
    layers: list[DenseLayer]
    input_scale: float
    scales: list[float]
    rates: list[float]
    normalised: list[tuple[np.ndarray, np.ndarray]]
    v_th: float
    input_name: str = "input"
    bias_name: str = "bias"
    output_name: str = "out"
    populations: list[str] = field(default_factory=list)

    @property
    def has_readout(self) -> bool:
        """True when the last layer is a non-spiking readout (the MLP ends in Linear)."""
        return self.spec.readout is not None

    def input_spikes(self, x: np.ndarray, n_steps: int, *, method: str = "regular", seed: int | None = 0):
        """SpikeTrains for inputs ``x`` [N, n_in] (>= 0): the rate-coded ``input`` and the always-on ``bias``.

        Inputs above ``input_scale`` are clipped to ``input_rate`` spikes per step.
        """
        from biolstm.encoding import SpikeTrains

        x = _check_inputs(x, self.layers[0].n_in, "the inputs")
        rates = np.minimum(x / self.input_scale, 1.0) * self.rates[0]
        spikes = rate_code(rates, n_steps, method=method, seed=seed)
        bias = np.ones((len(x), n_steps, 1), dtype=bool)
        return SpikeTrains.from_dense({self.input_name: spikes, self.bias_name: bias})

    def output_values(self, activity) -> np.ndarray:
        """The outputs in the ReLU model's units, ``[N, n_out]``, from an :class:`~biolstm.activity.Activity`.

        Readout: ``v(last step) / (v_th * T) * lambda_L``; spiking output layer: spikes per
        step ``/ rho_L * lambda_L``.
        """
        T = activity.n_steps
        if self.has_readout:
            return activity.readout_values() / (self.v_th * T) * self.scales[-1]
        counts = activity.neuron_counts(self.output_name)
        return counts / T / self.rates[-1] * self.scales[-1]

    def output_steps(self, activity) -> np.ndarray:
        """Readout estimates after every step, ``[N, T, n_out]``: entry ``t`` is what a run of
        ``t + 1`` steps gives (the regular rate code does not depend on the run length)."""
        if not self.has_readout:
            raise ReLUConversionError("output_steps needs a readout; this MLP ends in a spiking layer")
        steps = np.arange(1, activity.n_steps + 1)[None, :, None]
        return activity.readout / (self.v_th * steps) * self.scales[-1]

    def run(self, x: np.ndarray, n_steps: int, *, backend: str = "torch", method: str = "regular",
            batch_size: int = 200, progress: bool = False):
        """Simulate inputs ``x`` for ``n_steps`` steps each; returns the :class:`~biolstm.activity.Activity`.

        ``backend``: ``"torch"`` (:func:`biolstm.train.snn.torch_activity`, float64) or a
        Brian2 target (``"numpy"``, ``"cython"``, ``"cpp_standalone"``; :func:`biolstm.brian.simulate`).
        """
        inputs = self.input_spikes(x, n_steps, method=method)
        if backend == "torch":
            from biolstm.train.snn import torch_activity

            return torch_activity(self.spec, inputs, batch_size=batch_size, progress=progress)
        from biolstm.brian import simulate

        return simulate(self.spec, inputs, backend, progress=progress)

    @classmethod
    def from_normalised(cls, layers: Sequence[DenseLayer], normalised: Sequence[tuple[np.ndarray, np.ndarray]], *,
                        input_scale: float, scales: Sequence[float], rates: Sequence[float], v_th: Quantity,
                        dt: Quantity = 1 * ms, prefix: str = "h", metadata: dict | None = None) -> "ConvertedMLP":
        """A converted MLP from stored parts: the float ``layers`` (:func:`mlp_layers`), the
        weights ``normalised`` in units of ``v_th`` and the conversion's scales and rates (as
        :func:`convert_relu_mlp` made them), e.g. read back from a file."""
        layers = list(layers)
        new = _checked_weights(normalised, [((l.n_in, l.n_out), (l.n_out,)) for l in layers])
        if len(scales) != len(layers) or len(rates) != len(layers) + 1:
            raise ReLUConversionError(f"{len(scales)} scales and {len(rates)} rates are given; the MLP's "
                                      f"{len(layers)} layers need {len(layers)} and {len(layers) + 1}")
        names = [f"{prefix}{k + 1}" for k in range(len(layers) - 1)] + ["out"]
        spec = _layer_spec(new, names, not layers[-1].relu, v_th, dt, dict(metadata or {}))
        return cls(spec=spec, layers=layers, input_scale=float(input_scale), scales=[float(x) for x in scales],
                   rates=[float(x) for x in rates], normalised=new, v_th=float(v_th), populations=names)

    def with_normalised(self, normalised: Sequence[tuple[np.ndarray, np.ndarray]],
                        note: str = "fine-tuned") -> "ConvertedMLP":
        """A copy whose layers have the weights ``normalised`` (``(W'_l, b'_l)`` in units of
        ``v_th``, the shapes of :attr:`normalised`), e.g. after fine-tuning; scales, rates and
        the original float layers stay as converted, the spec's metadata says ``note``."""
        new = _checked_weights(normalised, [(w.shape, b.shape) for w, b in self.normalised])
        meta = dict(self.spec.metadata, weights=note)
        spec = _layer_spec(new, self.populations, self.has_readout, self.v_th * volt, self.spec.dt, meta)
        return replace(self, spec=spec, normalised=new)

    def predict(self, x: np.ndarray, n_steps: int, **kwargs: Any) -> np.ndarray:
        """Output values ``[N, n_out]`` of the spiking network (see :meth:`run` and :meth:`output_values`)."""
        return self.output_values(self.run(x, n_steps, **kwargs))


def convert_relu_mlp(model: Any, calibration: np.ndarray, *, percentile: float = 99.9,
                     max_rate: float = 0.5, input_rate: float = 1.0, input_scale: float | None = None,
                     v_th: Quantity = 10 * mV, dt: Quantity = 1 * ms, last_relu: bool | None = None,
                     prefix: str = "h", metadata: dict | None = None) -> ConvertedMLP:
    """Convert a trained ReLU MLP into rate-coded LIF layers of a NetworkSpec.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear / nn.ReLU, or list of (W [in, out], b [out])
        See :func:`mlp_layers`.
    calibration : ndarray [N, n_in], >= 0
        Inputs whose activations set the layer scales (training data, e.g. 1000 samples).
    percentile : float
        Percentile of each layer's positive activations that maps to ``max_rate`` (99.9).
    max_rate : float
        Spikes per step of a hidden neuron at its layer's scale, in (0, 1]. Lower is more
        linear under reset-to-zero but needs more steps (module docstring).
    input_rate : float
        Spikes per step of an input at ``input_scale``, in (0, 1].
    input_scale : float, optional
        Input value that maps to ``input_rate`` (default: the calibration maximum).
    v_th : Quantity (volt)
        Threshold of the LIF neurons; weights are in units of it.
    dt : Quantity (second)
        Time step of the spec.
    last_relu : bool, optional
        For (W, b) pairs: the last layer has a ReLU (a spiking output layer).
    prefix : str
        Hidden populations are ``{prefix}1``, ``{prefix}2``, ...

    Returns
    -------
    ConvertedMLP
    """
    for name, value in (("max_rate", max_rate), ("input_rate", input_rate)):
        if not isinstance(value, (int, float, np.floating)) or not 0 < float(value) <= 1:
            raise ReLUConversionError(f"{name} = {value!r} must be in (0, 1] spikes per step")
    if not isinstance(v_th, Quantity) or not float(v_th) > 0:
        raise ReLUConversionError(f"v_th = {v_th!r} must be a positive voltage (e.g. 10*mV)")
    layers = mlp_layers(model, last_relu=last_relu)
    lam0, scales = layer_scales(layers, calibration, percentile, input_scale)
    L = len(layers)
    readout = not layers[-1].relu
    rates = [float(input_rate)] + [float(max_rate)] * (L - 1) + [1.0 if readout else float(max_rate)]
    lams = [lam0] + scales
    names = [f"{prefix}{k + 1}" for k in range(L - 1)] + ["out"]
    normalised = []
    for k, layer in enumerate(layers):
        gain = (rates[k + 1] / lams[k + 1]) * (lams[k] / rates[k])
        normalised.append((layer.weight * gain, layer.bias * rates[k + 1] / lams[k + 1]))
    meta = {
        "converted_from": "ReLU MLP",
        "conversion": {
            "method": "rate code, data-based normalisation (Diehl et al. 2015; Rueckauer et al. 2017)",
            "percentile": percentile, "input_scale": lam0, "layer_scales": scales,
            "rates_per_step": rates, "reset": "to zero (biolstm lif)",
            "bias": "input group 'bias' firing every step, bias as its weight",
            "output": "li readout, v at the last step" if readout else "spike counts of 'out'",
            "layer_sizes": [layers[0].n_in] + [layer.n_out for layer in layers],
        },
    }
    meta.update(metadata or {})
    spec = _layer_spec(normalised, names, readout, v_th, dt, meta)
    return ConvertedMLP(spec=spec, layers=layers, input_scale=lam0, scales=scales, rates=rates,
                        normalised=normalised, v_th=float(v_th), populations=names)


def _checked_weights(normalised: Sequence[tuple[np.ndarray, np.ndarray]],
                     shapes: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``normalised`` as float64 ``(W, b)`` copies, refused unless their shapes are ``shapes``."""
    new = [(np.array(w, dtype=float), np.array(b, dtype=float)) for w, b in normalised]
    got = [(w.shape, b.shape) for w, b in new]
    if got != shapes:
        raise ReLUConversionError(f"the weights have shapes {got}; the layers need {shapes}")
    return new


def _layer_spec(normalised: Sequence[tuple[np.ndarray, np.ndarray]], names: Sequence[str], readout: bool,
                v_th: Quantity, dt: Quantity, metadata: dict):
    """The NetworkSpec of layers with weights ``normalised`` (units of ``v_th``; see :func:`convert_relu_mlp`)."""
    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    tau = NO_LEAK_STEPS * dt
    L = len(normalised)
    pops, projections = [], []
    for k, name in enumerate(names):
        n_out = normalised[k][0].shape[1]
        if k == L - 1 and readout:
            pops.append(Population(name, n_out, "li", {"tau_m": tau}))
        else:
            pops.append(Population(name, n_out, "lif",
                                   {"tau_m": tau, "v_th": v_th, "v_reset": 0 * mV, "t_ref": 0 * ms}))
    vth = float(v_th)
    for k, (w, b) in enumerate(normalised):
        pre = "input" if k == 0 else names[k - 1]
        projections.append(Projection(f"{pre}_{names[k]}", pre, names[k], w * vth, weight_unit=volt))
        if np.any(b != 0):
            projections.append(Projection(f"bias_{names[k]}", "bias", names[k], b[None, :] * vth,
                                          weight_unit=volt))
    return NetworkSpec(pops, projections, [InputGroup("input", normalised[0][0].shape[0]), InputGroup("bias", 1)],
                       Readout(names[-1], "v", "last") if readout else None, dt=dt, metadata=metadata)


def if_reference(converted: ConvertedMLP, x: np.ndarray, n_steps: int, *, reset: str = "zero",
                 method: str = "regular") -> dict[str, np.ndarray]:
    """Plain numpy integrate-and-fire run of the converted layers, for checks and comparisons.

    Same schedule as the NetworkSpec simulators (input and bias spikes count in their
    step, population spikes one step later; spike when ``v > 1`` in ``v_th`` units), with
    ``reset="zero"`` (biolstm's lif: ``v = 0``) or ``reset="subtract"`` (``v -= 1``,
    the reset that keeps the residual charge, Rueckauer et al. 2017 Sec. 2.2, which
    biolstm's neuron models and Loihi 1 do not have).

    Returns ``{"counts": [spikes per neuron, one array [N, n] per spiking layer],
    "output": [N, n_out] in the ReLU model's units}`` (as :meth:`ConvertedMLP.output_values`)
    and, with a readout, ``"output_steps"`` [N, T, n_out] (as :meth:`ConvertedMLP.output_steps`).
    """
    if reset not in ("zero", "subtract"):
        raise ReLUConversionError(f"reset {reset!r} is not 'zero' or 'subtract'")
    inputs = converted.input_spikes(x, n_steps, method=method)
    s_in = inputs.dense(converted.input_name).astype(float)  # [N, T, C]
    N = s_in.shape[0]
    L = len(converted.normalised)
    readout = converted.has_readout
    v = [np.zeros((N, w.shape[1])) for w, _ in converted.normalised]
    z = [np.zeros((N, w.shape[1])) for w, _ in converted.normalised]
    counts = [np.zeros((N, w.shape[1])) for w, _ in converted.normalised]
    trace = np.zeros((N, n_steps, converted.normalised[-1][0].shape[1])) if readout else None
    for t in range(n_steps):
        new_z = []
        for k, (w, b) in enumerate(converted.normalised):
            pre = s_in[:, t] if k == 0 else z[k - 1]
            v[k] = v[k] + pre @ w + b
            if k == L - 1 and readout:
                new_z.append(z[k])
                trace[:, t] = v[k] / (t + 1) * converted.scales[-1]
                continue
            fired = v[k] > 1.0
            if reset == "zero":
                v[k] = np.where(fired, 0.0, v[k])
            else:
                v[k] = v[k] - fired
            new_z.append(fired.astype(float))
            counts[k] += fired
        z = new_z
    if readout:
        output = v[-1] / n_steps * converted.scales[-1]
        spiking = counts[:-1]
    else:
        output = counts[-1] / n_steps / converted.rates[-1] * converted.scales[-1]
        spiking = counts
    result = {"counts": spiking, "output": output}
    if readout:
        result["output_steps"] = trace
    return result
