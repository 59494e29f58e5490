"""VSDL: the load / temperature phase diagram of student-teacher perceptrons ([MM-VSDL]; docs/theory.md#vsdl).

Modules: ``theory`` (replica-symmetric saddle points, Ising transition lines, annealed and high-temperature
limits, the last two computed by ``limits``), ``montecarlo`` (jitted, vmapped Metropolis and version-space samplers), ``run`` (the phase diagram),
``config`` / ``main`` (the Hydra entry point ``python -m simulations.vsdl``).
"""
