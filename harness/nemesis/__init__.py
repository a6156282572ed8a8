"""The nemesis: starts each scheduled fault at its trigger and heals it, writing both to the history.

`schedule` decides *when* (triggers, arming, `on_send`, what is still pending); what a fault *does* is
its kind's, in `harness.faults`.
"""

from harness.nemesis.context import NemesisContext
from harness.nemesis.schedule import ActiveFault, Nemesis

__all__ = ["ActiveFault", "Nemesis", "NemesisContext"]
