"""Every connect form: condition, p, i/j arrays, n (biolstm check corpus).

Two groups of 100 LIF neurons; an input group of 20 spike generators.
"""
from brian2 import *

tau = 10*ms
G = NeuronGroup(100, 'dv/dt = -v/tau : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
H = NeuronGroup(100, 'dv/dt = -v/tau : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
inp = SpikeGeneratorGroup(20, [0, 1, 2], [1, 2, 3]*ms)
by_condition = Synapses(G, H, on_pre='v += 1*mV')
by_condition.connect('i == j')                       # 100 synapses
by_arrays = Synapses(G, H, 'w : volt', on_pre='v += w')
by_arrays.connect(i=[0, 1, 2], j=[5, 6, 7])         # 3 synapses
by_arrays.w = [1, 2, 3]*mV
with_n = Synapses(H, G, on_pre='v += 0.5*mV')
with_n.connect(j='i', n=2)                           # 2 per pair: 200 synapses
all_to_all = Synapses(inp, G, on_pre='v += 0.1*mV')
all_to_all.connect(p=1)                              # 20 x 100 = 2000 synapses
run(10*ms)
