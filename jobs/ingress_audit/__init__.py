"""ingress-audit: weekly compliance audit of Kubernetes ingress traffic and API audit logs."""

__version__ = "0.1.0"
