"""PoissonInput: N independent sources per target neuron (biolstm check corpus)."""
from brian2 import *

tau = 20*ms
G = NeuronGroup(100, 'dv/dt = -v/tau : volt (unless refractory)', threshold='v > 10*mV',
                reset='v = 0*mV', refractory=2*ms, method='exact')
background = PoissonInput(G, 'v', N=50, rate=5*Hz, weight=0.2*mV)
run(10*ms)
