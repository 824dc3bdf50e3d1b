"""
Conductance-based network in the style of Brian2's COBA example: the synaptic input
``ge*(Ee - v)`` depends on the membrane potential, which no Loihi compartment computes.
``biolstm check`` must report the neurons as unrecognised (exit status 2).
"""
from brian2 import *

taum = 20*ms
taue = 5*ms
taui = 10*ms
Vt = -50*mV
Vr = -60*mV
El = -60*mV
Ee = 0*mV
Ei = -80*mV

eqs = '''
dv/dt = (ge*(Ee-v) + gi*(Ei-v) - (v - El))/taum : volt (unless refractory)
dge/dt = -ge/taue : 1
dgi/dt = -gi/taui : 1
'''

P = NeuronGroup(400, eqs, threshold='v>Vt', reset='v = Vr', refractory=5*ms, method='euler')
P.v = 'Vr + rand() * (Vt - Vr)'
Ce = Synapses(P, P, on_pre='ge += 0.06')
Ci = Synapses(P, P, on_pre='gi += 0.67')
Ce.connect('i<320', p=0.02)
Ci.connect('i>=320', p=0.02)

net = Network(P, Ce, Ci)
net.run(100*ms)
