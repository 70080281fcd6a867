"""ivr: IVR and telephony control plane for a bank credit-card contact center."""

from ivr.native import use_fresh_builds_only

__version__ = "0.1.0"

# The mypyc-compiled hot paths only while they match their sources (ivr/native.py).
use_fresh_builds_only()
