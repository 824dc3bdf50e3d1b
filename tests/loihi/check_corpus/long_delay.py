"""A 7 ms delay at dt = 0.1 ms is 70 steps, beyond Loihi 1's 62 (biolstm check corpus)."""
from brian2 import *

defaultclock.dt = 0.1*ms
G = NeuronGroup(10, 'dv/dt = -v/(20*ms) : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
S = Synapses(G, G, on_pre='v += 2*mV', delay=7*ms)
S.connect(j='(i + 1) % N_post')
run(1*ms)
