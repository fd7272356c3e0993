"""`python -m switchboard` = the `switchboard` command."""

from switchboard.cli import main

main()
