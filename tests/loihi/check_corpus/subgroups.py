"""Subgroups on both sides of Synapses, nested too, and the connect forms (biolstm check corpus).

2048 LIF neurons in one group; P[:512] feeds P[1024:][:512] one-to-one (j='i'),
P[1536:][10:20] feeds P[:10] through i/j arrays.
"""
from brian2 import *

tau = 20*ms
P = NeuronGroup(2048, 'dv/dt = -v/tau : volt (unless refractory)', threshold='v > 10*mV',
                reset='v = 0*mV', refractory=2*ms, method='exact')
A = Synapses(P[:512], P[1024:][:512], on_pre='v += 1*mV')
A.connect(j='i')
B = Synapses(P[1536:][10:20], P[:10], on_pre='v_post += 2*mV')
B.connect(i=np.arange(10), j=np.arange(10))
run(10*ms)
