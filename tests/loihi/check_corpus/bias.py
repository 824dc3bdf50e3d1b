"""Constant and per-neuron drive: Loihi's per-compartment bias (biolstm check corpus).

'constant': dv/dt = (I - v)/tau with I : volt (constant), the same 15 mV for all;
'per_neuron': IF_curve_LIF's v0 from 0 to 20 mV across 100 neurons.
"""
from brian2 import *

n = 100
tau = 10*ms
constant = NeuronGroup(n, '''dv/dt = (I - v)/tau : volt (unless refractory)
                             I : volt (constant)''',
                       threshold='v > 10*mV', reset='v = 0*mV', refractory=5*ms, method='exact')
constant.I = 15*mV
per_neuron = NeuronGroup(n, '''dv/dt = (v0 - v)/tau : volt (unless refractory)
                               v0 : volt''',
                         threshold='v > 10*mV', reset='v = 0*mV', refractory=5*ms, method='exact')
per_neuron.v0 = '20*mV * i / (n-1)'
run(10*ms)
