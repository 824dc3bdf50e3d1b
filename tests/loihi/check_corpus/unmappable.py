"""Models the mapper cannot translate, whose resources are still counted (biolstm check corpus).

'adex': an exponential integrate-and-fire group (1500 neurons); 'lif': 100 LIF neurons fed by
'adex' through STDP synapses; a network_operation.
"""
from brian2 import *

C = 281*pF; gL = 30*nS; EL = -70.6*mV; VT = -50.4*mV; DeltaT = 2*mV
adex = NeuronGroup(1500, 'dv/dt = (gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT))/C : volt',
                   threshold='v > -40*mV', reset='v = EL', method='euler', name='adex')
adex.v = EL
lif = NeuronGroup(100, 'dv/dt = -v/(10*ms) : volt', threshold='v > 10*mV', reset='v = 0*mV',
                  method='exact', name='lif')
stdp = Synapses(adex, lif, '''w : volt
                              dapre/dt = -apre/(20*ms) : 1 (event-driven)''',
                on_pre='''v_post += w
                          apre += 0.01
                          w = clip(w + apre*mV, 0*mV, 5*mV)''', name='stdp')
stdp.connect(j='i % 100')
stdp.w = 1*mV

@network_operation(dt=1*ms)
def nudge():
    lif.v += 0.1*mV

run(10*ms)
