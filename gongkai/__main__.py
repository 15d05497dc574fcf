"""`python -m gongkai`: the `gongkai` command line."""

from gongkai.cli import main

main()
