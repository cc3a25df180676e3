"""`python -m singlewindow` runs the command line."""

from singlewindow.cli import main

main()
