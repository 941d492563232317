"""The simulated company's handover world: departed members, transfers, contact callbacks.

``world.py`` holds the state and the rules, ``api.py`` serves WeCom's customer-contact API
over it, ``callbacks.py`` sends the contact-change callbacks.
"""

from archive.simulator.handover.callbacks import ContactCallbacks, Delivery
from archive.simulator.handover.world import ContactFaults, Deletion, HandoverWorld, SimulatorClock, Transfer

__all__ = ["ContactCallbacks", "ContactFaults", "Deletion", "Delivery", "HandoverWorld", "SimulatorClock", "Transfer"]
