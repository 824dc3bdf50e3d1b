"""
CUBA-like network (after the current-based benchmark of Brette et al. 2007 as
Brian2's examples write it), but with one synaptic current shared by excitation and
inhibition so that every neuron is a single Loihi compartment.

Written as a plain Brian2 script (no biolstm): ``biolstm check`` must read it without
running it.
"""
from brian2 import *

seed(2024)

taum = 20*ms
taus = 5*ms
Vt = -50*mV
Vr = -60*mV
El = -49*mV

eqs = '''
dv/dt  = (I - (v - El))/taum : volt (unless refractory)
dI/dt = -I/taus : volt
'''

P = NeuronGroup(4000, eqs, threshold='v > Vt', reset='v = Vr', refractory=5*ms,
                method='exact')
P.v = 'Vr + rand() * (Vt - Vr)'
P.I = 0*mV

we = (60*0.27/10)*mV  # excitatory synaptic weight (voltage)
wi = (-20*4.5/10)*mV  # inhibitory synaptic weight
Ce = Synapses(P, P, on_pre='I += we')
Ci = Synapses(P, P, on_pre='I += wi')
Ce.connect('i<3200', p=0.02)
Ci.connect('i>=3200', p=0.02)

stimulus = PoissonGroup(100, rates=5*Hz)
Cin = Synapses(stimulus, P, 'w : volt', on_pre='I_post += w')
Cin.connect(p=0.1)
Cin.w = 'rand() * 2*mV'

s_mon = SpikeMonitor(P)

run(1 * second)

plot(s_mon.t/ms, s_mon.i, ',k')
xlabel('Time (ms)')
ylabel('Neuron index')
show()
