"""
Spike-frequency adaptation two ways, written as plain Brian2 (no biolstm): an
after-hyperpolarizing current (``I_ahp``) and an adaptive threshold (``theta``), driven
by a few input spike trains.
"""
from brian2 import *

defaultclock.dt = 1*ms

tau_m = 20*ms
v_th = 10*mV
R_m = 100*Mohm
tau_ahp = 700*ms
delta_I_ahp = 24*pA
tau_a = 700*ms
delta_theta = 2.4*mV

ahp_eqs = '''
dv/dt = (-v - R_m*I_ahp)/tau_m : volt (unless refractory)
dI_ahp/dt = -I_ahp/tau_ahp : amp
'''
alif_eqs = '''
dv/dt = -v/tau_m : volt (unless refractory)
dtheta/dt = -theta/tau_a : volt
'''
ahp = NeuronGroup(100, ahp_eqs, threshold='v > v_th', reset='v = 0*mV; I_ahp += delta_I_ahp',
                  refractory=0*ms, method='exact')
alif = NeuronGroup(100, alif_eqs, threshold='v > v_th + theta', reset='v = 0*mV; theta += delta_theta',
                   method='exact')

indices = array([0, 1, 2, 3])
times = array([5, 10, 15, 20])*ms
stimulus = SpikeGeneratorGroup(20, indices, times)

to_ahp = Synapses(stimulus, ahp, 'w : volt', on_pre='v_post += w')
to_ahp.connect(p=0.5)
to_ahp.w = '(1 + i % 5) * 2*mV'
to_alif = Synapses(stimulus, alif, 'w : volt', on_pre='v_post += w')
to_alif.connect(p=0.5)
to_alif.w = '(1 + j % 5) * 2*mV'

spikes = SpikeMonitor(ahp)
run(100*ms)
print(spikes.num_spikes)
