"""`python -m ingress_audit …`: the same as the `ingress-audit` command."""

from .cli import main

main()
