"""clusterdns: Kubernetes cluster DNS answered from manifest files."""

__version__ = "0.1.0"
