"""Place a quantized network on Loihi cores and chips, resource by resource.

Every population is cut into contiguous pieces of equal size (the last one smaller),
and pieces are put on cores (several small pieces may share a core); cores fill
chips of ``cores_per_chip`` in order. A core's resources (docs/sources.md L1a, L2c, L4):

* **compartments** (C1): neurons x compartments per neuron (an AHP neuron is 2 on
  Loihi 1), at most ``2**(13 - delay_bits)`` when synapses into the core carry delays (C12);
* **input axons** (C2): one per (source neuron, synapse format) with a synapse into the
  piece, as nengo-loihi counts them (a mixed-sign projection stored as two formats
  counts twice), plus one per AHP neuron (its main -> auxiliary synapse);
* **synaptic memory** (C5): per input axon, the targets in the piece in groups of up to
  64, each ``n*(weight_bits + delay_bits + index_bits) + 10`` bits rounded up to 64-bit
  words (nengo-loihi's model of NxSDK's encoding, §2c); index bits are 0 when the
  targets are contiguous, else ``max(6, ceil(log2(compartments in the piece)))``;
* **output axons** (C3): one per (source neuron, destination core), plus one per AHP
  neuron; the budget is the ``output_axons`` setting (4096 on-chip; Intel's rule: 2048
  when any destination is on another chip);
* **destination cores per neuron** (C4): at most 511 (Intel's placement code);
* **profiles** (C7-C9): distinct compartment profiles (decays, refractory, bias; an AHP
  neuron adds its auxiliary profile), threshold values and synapse formats.

Splitting (docs/sources.md L5, without nengo-loihi's missing second pass): first each
population is split until compartments, input axons and synaptic memory fit; then each
source population is split until every piece's output axons fit *given the targets'
splits* (repeated until nothing changes, since a recurrent population is its own
target); after packing and chip assignment the exact output axons are checked against
the chip-dependent budget and sources are split further if needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from biolstm.loihi.chips import Chip, load_chip
from biolstm.loihi.fixed_point import QuantizedNetwork, QuantizedPopulation, QuantizedProjection
from biolstm.loihi.settings import LoihiSettings, make_settings
from biolstm.loihi.violations import Violation

__all__ = ["Placement", "Piece", "Routes", "place", "synapse_memory_bits", "CoreLimits"]

CHUNK = 1 << 23


# --------------------------------------------------------------------------------------
# limits of one core under the settings
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreLimits:
    """Per-core limits of a chip under the settings (None = not published, unchecked)."""

    compartments: int
    input_axons: int | None
    output_axons_same_chip: int | None
    output_axons_cross_chip: int | None
    output_axons_per_neuron: int | None
    synapse_bits: int | None
    compartment_profiles: int | None
    threshold_profiles: int | None
    synapse_formats: int | None
    accumulator_bits: int | None
    min_delay_bits: int
    cores_per_chip: int
    group_size: int
    header_bits: int
    word_bits: int

    @classmethod
    def of(cls, chip: Chip, cfg: LoihiSettings) -> "CoreLimits":
        out = chip.value("output_axons_per_core")
        same = cross = None
        if out is not None:
            same = out["same_chip"]
            cross = {"intel": out.get("cross_chip_intel"), "davies": out["same_chip"],
                     "slayer": out.get("cross_chip_slayer")}[cfg.output_axons]
        enc = chip.value("synapse_encoding") or {}
        return cls(
            compartments=chip.compartments_per_core,
            input_axons=chip.value("input_axons_per_core"),
            output_axons_same_chip=same,
            output_axons_cross_chip=cross,
            output_axons_per_neuron=chip.value("output_axons_per_neuron") if cfg.neuron_fanout_limit else None,
            synapse_bits=chip.value("synapse_memory_bits_per_core"),
            compartment_profiles=chip.option("compartment_profiles_per_core", cfg.profile_limits),
            threshold_profiles=chip.option("threshold_profiles_per_core", cfg.profile_limits),
            synapse_formats=chip.option("synapse_formats_per_core", cfg.profile_limits),
            accumulator_bits=chip.value("dendritic_accumulator_bits"),
            min_delay_bits=int(chip.value("min_delay_bits") or 0),
            cores_per_chip=chip.cores_per_chip,
            group_size=int(enc.get("group_size", 64)),
            header_bits=int(enc.get("header_bits", 10)),
            word_bits=int(enc.get("word_bits", 64)),
        )

    def delay_bits(self, max_delay: int) -> int:
        """Delay bits a core needs: accumulators ``2**b`` must exceed ``max_delay + 1``."""
        b = self.min_delay_bits
        while (1 << b) <= max_delay + 1:
            b += 1
        return b

    def compartment_cap(self, max_delay: int) -> int:
        """Compartments per core allowed with synaptic delays up to ``max_delay`` (C12)."""
        if self.accumulator_bits is None:
            return self.compartments
        return min(self.compartments, 1 << (self.accumulator_bits - self.delay_bits(max_delay)))


def _limit(x: int | None) -> float:
    return math.inf if x is None else float(x)


def synapse_memory_bits(n: np.ndarray, bits_per_synapse: np.ndarray | int, lim: CoreLimits) -> np.ndarray:
    """Bits one input axon's synapse list of ``n`` targets takes (vectorised, §2c)."""
    n = np.asarray(n, dtype=np.int64)
    b = np.asarray(bits_per_synapse, dtype=np.int64)
    g, h, w = lim.group_size, lim.header_bits, lim.word_bits
    full, rem = np.divmod(n, g)
    words_full = -(-(g * b + h) // w)
    words_rem = np.where(rem > 0, -(-(rem * b + h) // w), 0)
    return (full * words_full + words_rem) * w


def _runs(pre: np.ndarray, post: np.ndarray, key_of_post: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Start indices of runs of equal ``(pre, key(post))`` in synapses sorted by (pre, post).

    ``key`` must be non-decreasing in ``post`` (piece or core index), so every pair forms
    one run. Works in chunks to bound memory.
    """
    n = len(pre)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    parts = []
    prev_pre = prev_key = None
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        p = pre[a:b]
        k = key_of_post(post[a:b])
        change = np.empty(b - a, dtype=bool)
        np.not_equal(p[1:], p[:-1], out=change[1:])
        change[1:] |= k[1:] != k[:-1]
        change[0] = True if a == 0 else bool(p[0] != prev_pre or k[0] != prev_key)
        parts.append(np.flatnonzero(change).astype(np.int64) + a)
        prev_pre, prev_key = p[-1], k[-1]
    return np.concatenate(parts)


def _delay_bits_of(proj: QuantizedProjection) -> int:
    d = proj.max_delay
    return 0 if d <= 0 else int(math.ceil(math.log2(d + 1)))


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass
class Piece:
    """A contiguous range of one population's neurons placed on one core."""

    population: str
    start: int
    stop: int
    core: int = -1
    compartments: int = 0
    input_axons: int = 0
    synapse_bits: int = 0
    output_axons_bound: int = 0
    max_delay: int = 0
    profiles: frozenset = frozenset()
    thresholds: frozenset = frozenset()
    formats: frozenset = frozenset()

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass
class Routes:
    """Where the spikes of one source go: one row per (source neuron, destination core).

    Attributes
    ----------
    pre : ndarray of int32
        Source neuron index, sorted.
    core : ndarray of int32
        Destination core.
    synapses : ndarray of int64
        Synapses of that neuron on that core (synaptic operations per spike).
    """

    pre: np.ndarray
    core: np.ndarray
    synapses: np.ndarray

    def per_neuron(self, n: int, values: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``values`` (default 1 per route) per source neuron, length ``n``."""
        return np.bincount(self.pre, weights=values, minlength=n)[:n]


@dataclass
class Placement:
    """Result of :func:`place`: pieces on cores, cores on chips, per-core usage, routes.

    Attributes
    ----------
    qnet : QuantizedNetwork
    chip : Chip
    settings : LoihiSettings
    pieces : list of Piece
    n_cores, n_chips : int
    core_of : dict of population name to ndarray (int32, one core per neuron)
    routes : dict of source name (population or input group) to Routes
    core_usage : dict of column name to ndarray (one entry per core)
    limits : CoreLimits
    violations : list of Violation
    iterations : int
        Passes of the split-pack-check loop.
    """

    qnet: QuantizedNetwork
    chip: Chip
    settings: LoihiSettings
    pieces: list[Piece]
    n_cores: int
    n_chips: int
    core_of: dict[str, np.ndarray]
    routes: dict[str, Routes]
    core_usage: dict[str, np.ndarray]
    limits: CoreLimits
    violations: list[Violation] = field(default_factory=list)
    iterations: int = 0

    # -- geometry ------------------------------------------------------------------
    def core_xy(self, cores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Chip, global mesh x and y of cores (chips laid side by side east-west)."""
        cores = np.asarray(cores, dtype=np.int64)
        cpc = self.limits.cores_per_chip
        mx, my = self.chip.mesh_tiles
        chip_ = cores // cpc
        tile = (cores % cpc) // self.chip.cores_per_tile
        return chip_, chip_ * mx + tile // my, tile % my

    def tiles_used(self) -> int:
        """Number of distinct tiles holding at least one core in use."""
        if self.n_cores == 0:
            return 0
        cores = np.arange(self.n_cores)
        return int(len(np.unique(cores // self.chip.cores_per_tile)))

    def where(self, population: str, neuron: int) -> tuple[int, int]:
        """(core, chip) of one neuron."""
        core = int(self.core_of[population][neuron])
        return core, core // self.limits.cores_per_chip

    # -- tables ----------------------------------------------------------------------
    def pieces_table(self):
        """pandas DataFrame: which neurons sit where (population, first, last, core, chip)."""
        import pandas as pd

        return pd.DataFrame([{
            "population": p.population, "first_neuron": p.start, "last_neuron": p.stop - 1,
            "neurons": p.size, "core": p.core, "chip": p.core // self.limits.cores_per_chip,
            "compartments": p.compartments,
        } for p in self.pieces])

    def cores_table(self):
        """pandas DataFrame: per-core usage and limits (one row per core)."""
        import pandas as pd

        df = pd.DataFrame(self.core_usage)
        return df

    def summary(self) -> dict[str, Any]:
        u = self.core_usage

        def peak(col):
            return int(u[col].max()) if self.n_cores else 0

        return {
            "cores": self.n_cores, "chips": self.n_chips,
            "max_compartments_per_core": peak("compartments"),
            "max_input_axons_per_core": peak("input_axons"),
            "max_output_axons_per_core": peak("output_axons"),
            "max_synapse_bits_per_core": peak("synapse_bits"),
        }


# --------------------------------------------------------------------------------------
# the placer
# --------------------------------------------------------------------------------------


class _Placer:
    def __init__(self, qnet: QuantizedNetwork, chip: Chip, cfg: LoihiSettings, progress: bool):
        self.q, self.chip, self.cfg = qnet, chip, cfg
        self.lim = CoreLimits.of(chip, cfg)
        self.pops = {p.name: p for p in qnet.populations}
        self.order = [p.name for p in qnet.populations]
        self.incoming: dict[str, list[QuantizedProjection]] = {n: [] for n in self.order}
        self.outgoing: dict[str, list[QuantizedProjection]] = {}
        for proj in qnet.projections:
            if proj.post in self.incoming:
                self.incoming[proj.post].append(proj)
                self.outgoing.setdefault(proj.pre, []).append(proj)
        self.ahp_extra = int(chip.value("ahp_extra_axons_and_synapses") or 0)
        self.violations: list[Violation] = []
        self.unfixable: set[str] = set()
        # output-axon budget per source population: same-chip until a piece is found to
        # send across chips, then the cross-chip budget (Intel's rule)
        self.budget: dict[str, float] = {n: _limit(self.lim.output_axons_same_chip) for n in self.order}
        self.progress = progress
        self._res_cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._tables: dict[tuple, np.ndarray] = {}
        self._pos: dict[str, np.ndarray] = {}
        self._dest_cache: dict[tuple, np.ndarray] = {}

    # -- per-population constants ----------------------------------------------------
    def _profiles(self, pop: QuantizedPopulation) -> tuple[frozenset, frozenset]:
        prof = {("soma",) + pop.profile()}
        vth = {pop.vth_mant if pop.spiking else ("no-spike",)}
        if pop.model == "ahp" and pop.compartments_per_neuron > 1:
            prof.add(("aux", pop.aux_decay_u, pop.aux_decay_v, 1, 0, 0))
            vth.add(("no-spike",))
        return frozenset(prof), frozenset(vth)

    def _formats(self, name: str) -> frozenset:
        out = set()
        for proj in self.incoming[name]:
            signs = {"split": ("excitatory", "inhibitory")}.get(proj.sign_mode, (proj.sign_mode,))
            for s in signs:
                out.add((proj.num_weight_bits, s, _delay_bits_of(proj)))
        pop = self.pops[name]
        if pop.model == "ahp" and self.ahp_extra:
            out.add((8, "inhibitory", 0))
        return frozenset(out)

    def _memory_table(self, dense_bits: int, sparse_bits: int, n_max: int) -> np.ndarray:
        """Bits of a synapse list of 0..n_max targets: indexed (first half), dense (second half)."""
        key = (dense_bits, sparse_bits, n_max)
        if key not in self._tables:
            n = np.arange(n_max + 1)
            self._tables[key] = np.concatenate([synapse_memory_bits(n, sparse_bits, self.lim),
                                                synapse_memory_bits(n, dense_bits, self.lim)])
        return self._tables[key]

    def _positive_cumsum(self, proj: QuantizedProjection) -> np.ndarray:
        """``c[i]`` = positive weights among the first ``i`` synapses (cached per projection)."""
        if proj.name not in self._pos:
            c = np.zeros(proj.n_synapses + 1, dtype=np.int32 if proj.n_synapses < 2**31 else np.int64)
            np.cumsum(proj.weight_mant > 0, out=c[1:])
            self._pos[proj.name] = c
        return self._pos[proj.name]

    def _max_delay_in(self, name: str) -> int:
        return max([p.max_delay for p in self.incoming[name]], default=0)

    # -- step 1: resources of the pieces of one population at piece size s -----------
    def resources(self, name: str, s: int) -> dict[str, np.ndarray]:
        key = (name, s)
        if key in self._res_cache:
            return self._res_cache[key]
        pop = self.pops[name]
        n = pop.size
        k = -(-n // s)
        sizes = np.full(k, s, dtype=np.int64)
        sizes[-1] = n - s * (k - 1)
        comps = sizes * pop.compartments_per_neuron
        in_axons = np.zeros(k, dtype=np.int64)
        bits = np.zeros(k, dtype=np.int64)
        index_bits = max(6, int(math.ceil(math.log2(max(int(comps.max()), 2)))))
        for proj in self.incoming[name]:
            if proj.n_synapses == 0:
                continue
            starts = _runs(proj.pre_index, proj.post_index, lambda post: post // s)
            ends = np.empty_like(starts)
            ends[:-1] = starts[1:]
            ends[-1:] = proj.n_synapses
            counts = ends - starts
            first = proj.post_index[starts]
            run_piece = first // s
            last = proj.post_index[ends - 1]
            dense = (last - first + 1) == counts
            wbits = proj.num_weight_bits + _delay_bits_of(proj)
            table = self._memory_table(wbits, wbits + index_bits, int(comps.max()))
            offset = dense * (table.size // 2)  # second half of the table: dense lists
            if proj.sign_mode == "split":
                csum = self._positive_cumsum(proj)
                pos = csum[ends] - csum[starts]
                neg = counts - pos
                both = (pos > 0) & (neg > 0)
                offset[both] = 0  # two formats: indexed lists
                run_bits = table[pos + offset] + table[neg + offset]
                in_axons += np.bincount(run_piece, weights=1 + both, minlength=k).astype(np.int64)
            else:
                run_bits = table[counts + offset]
                in_axons += np.bincount(run_piece, minlength=k)
            bits += np.bincount(run_piece, weights=run_bits, minlength=k).astype(np.int64)
        if pop.model == "ahp" and self.ahp_extra:
            in_axons += sizes * self.ahp_extra
            bits += sizes * self.ahp_extra * int(synapse_memory_bits(1, 8, self.lim))
        out = {"sizes": sizes, "compartments": comps, "input_axons": in_axons, "synapse_bits": bits}
        self._res_cache[key] = out
        return out

    def split_for_inputs(self, name: str) -> int:
        """Piece size at which compartments, input axons and memory fit (or 1)."""
        pop = self.pops[name]
        n, cpn = pop.size, pop.compartments_per_neuron
        cap = self.lim.compartment_cap(self._max_delay_in(name))
        if cpn > cap:
            self.violations.append(Violation(
                f"population '{name}'", "compartments per core (C1/C12)", cpn, cap,
                "reduce synaptic delays so more compartments fit per core"))
            return 1
        k = k0 = -(-n * cpn // cap)
        fail = None  # largest piece count known not to fit
        while True:
            s = -(-n // k)
            res = self.resources(name, s)
            ratio = self._ratio(res, cap)
            if ratio <= 1.0:
                break
            if s == 1:
                self._single_neuron_violation(name, res)
                self.unfixable.add(name)
                return -(-n // k0)
            fail = k
            # grow by the overflow ratio, at least by a quarter (resources shrink slower
            # than the piece when sources' targets spread over several pieces)
            k = min(n, max(k + 1, int(math.ceil(k * ratio)), int(math.ceil(k * 1.25))))
        # k fits; bisect down towards the last count that did not fit
        if fail is not None:
            lo, hi = fail, k
            while hi - lo > max(1, hi // 50):  # within 2% of the fewest pieces
                mid = (lo + hi) // 2
                if -(-n // mid) == -(-n // hi):
                    hi = mid
                    continue
                if self._ratio(self.resources(name, -(-n // mid)), cap) <= 1.0:
                    hi = mid
                else:
                    lo = mid
            k = hi
        return -(-n // k)

    def _ratio(self, res: dict, cap: int) -> float:
        return max(
            float(res["compartments"].max()) / cap,
            float(res["input_axons"].max()) / _limit(self.lim.input_axons),
            float(res["synapse_bits"].max()) / _limit(self.lim.synapse_bits),
        )

    def _single_neuron_violation(self, name: str, res: dict) -> None:
        worst = int(np.argmax(res["input_axons"]))
        if res["input_axons"][worst] > _limit(self.lim.input_axons):
            self.violations.append(Violation(
                f"population '{name}' (neuron {worst})", "input axons per core (C2)",
                int(res["input_axons"][worst]), self.lim.input_axons,
                f"one neuron of '{name}' receives from {int(res['input_axons'][worst])} distinct "
                f"(source, format) pairs; no split can fix this: reduce its fan-in to at most "
                f"{self.lim.input_axons} sources (e.g. pool inputs through an intermediate "
                f"population), or use single-sign projections (a mixed-sign projection uses 2 axons per source)"))
        worst = int(np.argmax(res["synapse_bits"]))
        if res["synapse_bits"][worst] > _limit(self.lim.synapse_bits):
            self.violations.append(Violation(
                f"population '{name}' (neuron {worst})", "synaptic memory per core (C5)",
                f"{int(res['synapse_bits'][worst])} bits", f"{self.lim.synapse_bits} bits",
                "one neuron's incoming synapses exceed a core's memory; use fewer weight bits or fewer inputs"))

    # -- step 2: destination pieces per source neuron ---------------------------------
    def dest_counts(self, source: str, sizes: dict[str, int], offsets: dict[str, int], n: int) -> np.ndarray:
        """Distinct destination pieces per neuron of ``source`` (upper bound on cores)."""
        key = (source,) + tuple((p.post, sizes[p.post]) for p in self.outgoing.get(source, []))
        if key in self._dest_cache:
            return self._dest_cache[key]
        by_target: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for proj in self.outgoing.get(source, []):
            if proj.n_synapses == 0:
                continue
            s = sizes[proj.post]
            starts = _runs(proj.pre_index, proj.post_index, lambda post: post // s)
            by_target.setdefault(proj.post, []).append(
                (proj.pre_index[starts].astype(np.int64), proj.post_index[starts].astype(np.int64) // s))
        out = np.zeros(n, dtype=np.int64)
        for target, runs in by_target.items():
            if len(runs) == 1:  # runs of one projection are distinct (pre, piece) pairs already
                out += np.bincount(runs[0][0], minlength=n)[:n]
                continue
            n_pieces = -(-self.pops[target].size // sizes[target])
            keys = np.concatenate([pre * n_pieces + piece for pre, piece in runs])
            keys.sort()
            first = np.empty(len(keys), dtype=bool)
            first[:1] = True
            np.not_equal(keys[1:], keys[:-1], out=first[1:])
            out += np.bincount(keys[first] // n_pieces, minlength=n)[:n]
        self._dest_cache[key] = out
        return out

    @staticmethod
    def _window_max(per_neuron: np.ndarray, s: int) -> tuple[int, int]:
        csum = np.concatenate([[0], np.cumsum(per_neuron)])
        edges = np.append(np.arange(0, len(per_neuron), s), len(per_neuron))
        sums = csum[edges[1:]] - csum[edges[:-1]]
        i = int(np.argmax(sums))
        return int(sums[i]), i

    def split_for_outputs(self, sizes: dict[str, int], budgets: dict[str, float]) -> bool:
        """Shrink source pieces until their output-axon bound fits their budget."""
        changed = False
        offsets = self._offsets(sizes)
        for name in self.order:
            pop = self.pops[name]
            if name not in self.outgoing or not pop.spiking:
                continue
            dest = self.dest_counts(name, sizes, offsets, pop.size)
            if pop.model == "ahp" and self.ahp_extra:
                dest = dest + self.ahp_extra
            s = sizes[name]
            budget = budgets[name]
            worst, _ = self._window_max(dest, s)
            if worst <= budget:
                continue
            if int(dest.max()) > budget:
                continue  # a single neuron exceeds: reported by the exact check
            k = -(-pop.size // s)
            while worst > budget and s > 1:
                k = min(pop.size, max(k + 1, int(math.ceil(k * worst / budget))))
                s = -(-pop.size // k)
                worst, _ = self._window_max(dest, s)
            sizes[name] = s
            changed = True
        return changed

    def _offsets(self, sizes: dict[str, int]) -> dict[str, int]:
        offsets, total = {}, 0
        for name in self.order:
            offsets[name] = total
            total += -(-self.pops[name].size // sizes[name])
        return offsets

    # -- step 3: pieces -> cores ----------------------------------------------------------
    def make_pieces(self, sizes: dict[str, int]) -> list[Piece]:
        offsets = self._offsets(sizes)
        pieces: list[Piece] = []
        for name in self.order:
            pop = self.pops[name]
            s = sizes[name]
            res = self.resources(name, s)
            dest = self.dest_counts(name, sizes, offsets, pop.size) if name in self.outgoing else np.zeros(pop.size, np.int64)
            if pop.model == "ahp" and self.ahp_extra:
                dest = dest + self.ahp_extra
            csum = np.concatenate([[0], np.cumsum(dest)])
            prof, vth = self._profiles(pop)
            formats = self._formats(name)
            mdelay = self._max_delay_in(name)
            for i, a in enumerate(range(0, pop.size, s)):
                b = min(a + s, pop.size)
                pieces.append(Piece(
                    population=name, start=a, stop=b, compartments=int(res["compartments"][i]),
                    input_axons=int(res["input_axons"][i]), synapse_bits=int(res["synapse_bits"][i]),
                    output_axons_bound=int(csum[b] - csum[a]), max_delay=mdelay, profiles=prof,
                    thresholds=vth, formats=formats))
        return pieces

    def pack(self, pieces: list[Piece]) -> int:
        lim = self.lim
        core = -1
        cur: dict[str, Any] = {}

        def fits(p: Piece) -> bool:
            if core < 0:
                return False
            if not self.cfg.pack:
                return False
            comp = cur["compartments"] + p.compartments
            if comp > lim.compartment_cap(max(cur["max_delay"], p.max_delay)):
                return False
            if cur["input_axons"] + p.input_axons > _limit(lim.input_axons):
                return False
            if cur["synapse_bits"] + p.synapse_bits > _limit(lim.synapse_bits):
                return False
            if cur["output_axons"] + p.output_axons_bound > min(cur["budget"], self.budget[p.population]):
                return False
            if len(cur["profiles"] | p.profiles) > _limit(lim.compartment_profiles):
                return False
            if len(cur["thresholds"] | p.thresholds) > _limit(lim.threshold_profiles):
                return False
            if len(cur["formats"] | p.formats) > _limit(lim.synapse_formats):
                return False
            return True

        for p in pieces:
            if not fits(p):
                core += 1
                cur = {"compartments": 0, "input_axons": 0, "synapse_bits": 0, "output_axons": 0,
                       "max_delay": 0, "budget": math.inf, "profiles": frozenset(), "thresholds": frozenset(),
                       "formats": frozenset()}
            p.core = core
            cur["compartments"] += p.compartments
            cur["input_axons"] += p.input_axons
            cur["synapse_bits"] += p.synapse_bits
            cur["output_axons"] += p.output_axons_bound
            cur["max_delay"] = max(cur["max_delay"], p.max_delay)
            cur["budget"] = min(cur["budget"], self.budget[p.population])
            cur["profiles"] = cur["profiles"] | p.profiles
            cur["thresholds"] = cur["thresholds"] | p.thresholds
            cur["formats"] = cur["formats"] | p.formats
        return core + 1

    # -- step 4: exact routes and per-core usage ------------------------------------------
    def routes(self, core_of: dict[str, np.ndarray], n_cores: int) -> dict[str, Routes]:
        out: dict[str, Routes] = {}
        sources = list(self.outgoing)
        for source in sources:
            pres, cores, syn = [], [], []
            for proj in self.outgoing[source]:
                if proj.n_synapses == 0:
                    continue
                cmap = core_of[proj.post]
                starts = _runs(proj.pre_index, proj.post_index, lambda post: cmap[post])
                counts = np.diff(np.append(starts, proj.n_synapses))
                pres.append(proj.pre_index[starts].astype(np.int64))
                cores.append(cmap[proj.post_index[starts]].astype(np.int64))
                syn.append(counts)
            if not pres:
                continue
            pre, core, counts = np.concatenate(pres), np.concatenate(cores), np.concatenate(syn)
            keys = pre * n_cores + core
            if len(pres) > 1:
                order = np.argsort(keys, kind="stable")
                keys, counts = keys[order], counts[order]
            first = np.empty(len(keys), dtype=bool)
            first[:1] = True
            np.not_equal(keys[1:], keys[:-1], out=first[1:])
            starts = np.flatnonzero(first)
            uniq = keys[starts]
            total = np.add.reduceat(counts, starts) if len(starts) else counts[:0]
            out[source] = Routes(pre=(uniq // n_cores).astype(np.int32),
                                 core=(uniq % n_cores).astype(np.int32), synapses=total.astype(np.int64))
        return out

    def usage(self, pieces: list[Piece], n_cores: int, core_of: dict[str, np.ndarray],
              routes: dict[str, Routes], n_chips: int) -> dict[str, np.ndarray]:
        lim = self.lim
        cols = {k: np.zeros(n_cores, dtype=np.int64) for k in (
            "neurons", "compartments", "input_axons", "output_axons", "synapse_bits", "synapses",
            "compartment_profiles", "threshold_profiles", "synapse_formats", "max_delay")}
        pops_on: list[list[str]] = [[] for _ in range(n_cores)]
        prof: list[set] = [set() for _ in range(n_cores)]
        vth: list[set] = [set() for _ in range(n_cores)]
        fmt: list[set] = [set() for _ in range(n_cores)]
        for p in pieces:
            c = p.core
            cols["neurons"][c] += p.size
            cols["compartments"][c] += p.compartments
            cols["input_axons"][c] += p.input_axons
            cols["synapse_bits"][c] += p.synapse_bits
            cols["max_delay"][c] = max(cols["max_delay"][c], p.max_delay)
            _append_piece(pops_on[c], p)
            prof[c] |= p.profiles
            vth[c] |= p.thresholds
            fmt[c] |= p.formats
        for c in range(n_cores):
            cols["compartment_profiles"][c] = len(prof[c])
            cols["threshold_profiles"][c] = len(vth[c])
            cols["synapse_formats"][c] = len(fmt[c])
        cross = np.zeros(n_cores, dtype=bool)
        cpc = lim.cores_per_chip
        for source, r in routes.items():
            if source in core_of:
                src_core = core_of[source][r.pre]
                cols["output_axons"] += np.bincount(src_core, minlength=n_cores)[:n_cores]
                off_chip = (src_core // cpc) != (r.core // cpc)
                if off_chip.any():
                    cross[np.unique(src_core[off_chip])] = True
            cols["synapses"] += np.bincount(r.core, weights=r.synapses, minlength=n_cores).astype(np.int64)[:n_cores]
        for p in pieces:
            pop = self.pops[p.population]
            if pop.model == "ahp" and self.ahp_extra:
                cols["output_axons"][p.core] += p.size * self.ahp_extra
                cols["synapses"][p.core] += p.size * self.ahp_extra
        budget = np.where(cross, _limit(lim.output_axons_cross_chip), _limit(lim.output_axons_same_chip))
        caps = np.array([lim.compartment_cap(int(d)) for d in cols["max_delay"]], dtype=np.int64)
        usage: dict[str, np.ndarray] = {
            "core": np.arange(n_cores), "chip": np.arange(n_cores) // cpc,
            "populations": np.array([", ".join(_piece_text(e) for e in x) for x in pops_on], dtype=object),
        }
        usage.update(cols)
        usage["compartment_limit"] = caps
        usage["input_axon_limit"] = np.full(n_cores, _limit(lim.input_axons))
        usage["output_axon_limit"] = budget
        usage["synapse_bit_limit"] = np.full(n_cores, _limit(lim.synapse_bits))
        usage["cross_chip"] = cross
        return usage


def _append_piece(entries: list, p: Piece) -> None:
    """Merge consecutive pieces of one population into one entry [name, start, stop, count]."""
    if entries and entries[-1][0] == p.population and entries[-1][2] == p.start:
        entries[-1][2] = p.stop
        entries[-1][3] += 1
    else:
        entries.append([p.population, p.start, p.stop, 1])


def _piece_text(entry: list) -> str:
    name, a, b, k = entry
    return f"{name}[{a}:{b}]" + (f" ({k} pieces)" if k > 1 else "")


def place(qnet: QuantizedNetwork, chip: str | Chip | None = None, *, settings: LoihiSettings | dict | None = None,
          progress: bool = False, max_iterations: int = 20, **kwargs: Any) -> Placement:
    """Split populations over cores, pack cores, fill chips, and check every core.

    Parameters
    ----------
    qnet : QuantizedNetwork
        From :func:`biolstm.loihi.quantize.quantize`.
    chip : str, path or Chip, optional
        Default: the chip ``qnet`` was quantized for.
    settings, **kwargs
        :class:`~.settings.LoihiSettings` (``output_axons``, ``profile_limits``,
        ``neuron_fanout_limit``, ``pack``); default: the settings of ``qnet``.
    max_iterations : int
        Passes of the split-pack-check loop before giving up (then the remaining
        output-axon overflows are violations).

    Returns
    -------
    Placement
        With ``violations`` for every limit that no split can fix.
    """
    chip = load_chip(chip if chip is not None else qnet.chip)
    base = dict(qnet.settings or {})
    base = {k: v for k, v in base.items() if k in LoihiSettings.__dataclass_fields__}
    if isinstance(settings, LoihiSettings):
        cfg = make_settings(settings, **kwargs)
    else:
        base.update(settings or {})
        cfg = make_settings(base, **kwargs)
    pl = _Placer(qnet, chip, cfg, progress)
    lim = pl.lim
    # step 1: targets
    sizes = {name: pl.split_for_inputs(name) for name in pl.order}
    iterations = 0
    while True:
        iterations += 1
        # step 2: sources, against their budget (same-chip until found to cross chips)
        for _ in range(max_iterations):
            if not pl.split_for_outputs(sizes, pl.budget):
                break
        # step 3: pack and assign chips
        pieces = pl.make_pieces(sizes)
        n_cores = pl.pack(pieces)
        core_of = {name: np.empty(pl.pops[name].size, dtype=np.int32) for name in pl.order}
        for p in pieces:
            core_of[p.population][p.start:p.stop] = p.core
        routes = pl.routes(core_of, n_cores)
        n_chips = -(-n_cores // lim.cores_per_chip) if n_cores else 0
        usage = pl.usage(pieces, n_cores, core_of, routes, n_chips)
        # step 4: exact output axons against the chip-dependent budget
        over = np.flatnonzero(usage["output_axons"] > usage["output_axon_limit"])
        if not len(over) or iterations >= max_iterations:
            break
        changed = False
        on_core: dict[int, set[str]] = {}
        for p in pieces:
            on_core.setdefault(p.core, set()).add(p.population)
        for c in over:
            for name in on_core.get(int(c), ()):
                if name in pl.outgoing and usage["output_axon_limit"][c] < pl.budget[name]:
                    pl.budget[name] = float(usage["output_axon_limit"][c])
                    changed = True
        if not changed:
            break
    violations = list(pl.violations)
    violations += _core_violations(pl, usage, pieces)
    violations += _fanout_violations(pl, routes, core_of)
    for key, label in (("input_axons", "input axons"), ("synapse_bits", "synaptic memory"),
                       ("output_axons_same_chip", "output axons"), ("compartment_profiles", "compartment profiles")):
        if getattr(lim, key) is None:
            violations.append(Violation(
                f"chip '{chip.name}'", f"{label} per core", "unchecked", "not published",
                f"{chip.name} publishes no per-core {label} limit; this part was not checked",
                severity="warning"))
    return Placement(
        qnet=qnet, chip=chip, settings=cfg, pieces=pieces, n_cores=n_cores, n_chips=n_chips,
        core_of=core_of, routes=routes, core_usage=usage, limits=lim, violations=violations,
        iterations=iterations)


def _core_violations(pl: _Placer, usage: dict[str, np.ndarray], pieces: list[Piece]) -> list[Violation]:
    out: list[Violation] = []
    lim = pl.lim
    names_on = usage["populations"]
    pieces_on: dict[int, list[Piece]] = {}
    for p in pieces:
        pieces_on.setdefault(p.core, []).append(p)

    def add(c: int, rule: str, value: Any, limit: Any, fix: str) -> None:
        out.append(Violation(f"core {c} (chip {c // lim.cores_per_chip}: {names_on[c]})", rule, value, limit, fix))

    for c in np.flatnonzero(usage["output_axons"] > usage["output_axon_limit"]):
        single = [p for p in pieces_on.get(int(c), []) if p.size == 1]
        why = ("a single neuron already exceeds the budget; " if single else "")
        add(int(c), "output axons per core (C3)", int(usage["output_axons"][c]), int(usage["output_axon_limit"][c]),
            why + "its neurons fan out to too many cores: add relay neurons that copy the spikes, or place "
            "targets on fewer cores (setting output_axons='davies' uses 4096 across chips)")
    for c in np.flatnonzero(usage["compartments"] > usage["compartment_limit"]):
        add(int(c), "compartments per core (C1/C12)", int(usage["compartments"][c]), int(usage["compartment_limit"][c]),
            "reduce synaptic delays or neurons per core")
    for col, lim_v, label, fix in (
            ("compartment_profiles", lim.compartment_profiles, "compartment profiles per core (C7)",
             "use fewer distinct (decay, refractory, bias) combinations among the populations on this core"),
            ("threshold_profiles", lim.threshold_profiles, "threshold profiles per core (C8)",
             "use fewer distinct thresholds among the populations on this core"),
            ("synapse_formats", lim.synapse_formats, "synapse formats per core (C9)",
             "use fewer distinct (weight bits, sign, delay bits) combinations for the projections into "
             "these populations")):
        if lim_v is None:
            continue
        for c in np.flatnonzero(usage[col] > lim_v):
            add(int(c), label, int(usage[col][c]), lim_v, fix)
    for col, lim_v, label in (("input_axons", lim.input_axons, "input axons per core (C2)"),
                              ("synapse_bits", lim.synapse_bits, "synaptic memory bits per core (C5)")):
        if lim_v is None:
            continue
        for c in np.flatnonzero(usage[col] > lim_v):
            if all(p.population in pl.unfixable for p in pieces_on.get(int(c), [])):
                continue  # already reported as a single-neuron violation
            add(int(c), label, int(usage[col][c]), lim_v, "split the population over more cores")
    return out


def _fanout_violations(pl: _Placer, routes: dict[str, Routes], core_of: dict[str, np.ndarray]) -> list[Violation]:
    lim = pl.lim
    if lim.output_axons_per_neuron is None:
        return []
    out = []
    for source, r in routes.items():
        if source not in core_of:
            continue
        n = pl.pops[source].size
        per = np.bincount(r.pre, minlength=n)
        worst = int(np.argmax(per)) if n else 0
        if n and per[worst] > lim.output_axons_per_neuron:
            count = int(np.count_nonzero(per > lim.output_axons_per_neuron))
            out.append(Violation(
                f"population '{source}' ({count} neurons, e.g. neuron {worst})",
                "destination cores per neuron (C4)", int(per[worst]), lim.output_axons_per_neuron,
                f"neurons of '{source}' reach up to {int(per[worst])} cores; add relay neurons, connect "
                f"to fewer target cores, or set neuron_fanout_limit=False if you trust the 4096 budget"))
    return out
