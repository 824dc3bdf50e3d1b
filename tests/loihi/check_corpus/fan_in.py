"""5000 Poisson sources onto every neuron: one neuron's inputs exceed a core's input axons
(biolstm check corpus)."""
from brian2 import *

G = NeuronGroup(10, 'dv/dt = -v/(10*ms) : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
sources = PoissonGroup(5000, 2*Hz)
S = Synapses(sources, G, 'w : volt', on_pre='v += w')
S.connect()
S.w = 0.5*mV
run(10*ms)
