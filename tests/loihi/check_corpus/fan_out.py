"""One neuron onto 66,000 neurons behind 62-step delays (biolstm check corpus).

A 62-step delay needs 6 delay bits, which leaves 2**(13-6) = 128 compartments per core,
so the targets spread over more cores than a neuron can reach.
"""
from brian2 import *

defaultclock.dt = 0.1*ms
src = NeuronGroup(1, 'dv/dt = -v/(10*ms) : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
T = NeuronGroup(66000, 'dv/dt = -v/(10*ms) : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
S = Synapses(src, T, on_pre='v += 1*mV', delay=6.2*ms)
S.connect()
run(1*ms)
