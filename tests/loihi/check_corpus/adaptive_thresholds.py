"""Adaptive thresholds the two ways Brian2's docs write them (biolstm check corpus).

* 'relaxing': threshold 'v > vt', vt relaxing to 10 mV, reset 'v = 0*mV; vt += 3*mV'
  (Brian2's examples/adaptive_threshold.py);
* 'theta': threshold 'v > v_th + theta', theta decaying to 0, reset 'theta += 3*mV'.
Both are the same neuron; an AHP current (the reset increments a current that feeds v)
is the third adaptive group.
"""
from brian2 import *

defaultclock.dt = 1*ms
tau_m = 10*ms
tau_t = 15*ms
relaxing = NeuronGroup(100, '''dv/dt = -v/tau_m : volt (unless refractory)
                               dvt/dt = (10*mV - vt)/tau_t : volt''',
                       threshold='v > vt', reset='v = 0*mV\nvt += 3*mV', refractory=2*ms, method='exact')
relaxing.vt = 10*mV
theta_form = NeuronGroup(100, '''dv/dt = -v/tau_m : volt (unless refractory)
                                 dtheta/dt = -theta/tau_t : volt''',
                         threshold='v > 10*mV + theta', reset='v = 0*mV; theta += 3*mV', refractory=2*ms,
                         method='exact')
ahp = NeuronGroup(100, '''dv/dt = (-v - R*I_ahp)/tau_m : volt (unless refractory)
                          dI_ahp/dt = -I_ahp/tau_t : amp''',
                  threshold='v > 10*mV', reset='v = 0*mV; I_ahp += 30*pA', refractory=2*ms, method='exact',
                  namespace={'R': 100*Mohm, 'tau_m': tau_m, 'tau_t': tau_t})
drive = PoissonGroup(10, 50*Hz)
drives = [Synapses(drive, target, on_pre='v += 3*mV', name=f'drive_{k}')
          for k, target in enumerate([relaxing, theta_form, ahp])]
for S in drives:
    S.connect()
run(100*ms)
