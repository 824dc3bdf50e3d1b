"""Delays and several clocks (biolstm check corpus).

1000 LIF neurons on a ring with 1.5 ms (15-step) delays; an input group on its own 1 ms clock.
"""
from brian2 import *

defaultclock.dt = 0.1*ms
G = NeuronGroup(1000, 'dv/dt = -v/(20*ms) : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
ring = Synapses(G, G, on_pre='v += 2*mV', delay=1.5*ms)
ring.connect(j='(i + 1) % N_post')
stim = SpikeGeneratorGroup(5, [0, 1, 2, 3, 4], [1, 2, 3, 4, 5]*ms, dt=1*ms)
kick = Synapses(stim, G, on_pre='v += 5*mV')
kick.connect(i=[0, 1, 2, 3, 4], j=[0, 200, 400, 600, 800])
run(10*ms)
