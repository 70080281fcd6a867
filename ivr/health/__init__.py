"""GET /healthz: whether the service reaches the PBX (both AMI sessions) and
listens for FastAGI; `feature.py` reads them from the app."""
