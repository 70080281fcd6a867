"""ivr: IVR and telephony control plane for a bank credit-card contact center."""

__version__ = "0.1.0"
