"""`python -m clusterdns` runs the same CLI as the `clusterdns` script."""

from .cli import main

main()
