"""``python -m symbackprop`` runs the command line."""

from symbackprop.cli import main

if __name__ == "__main__":
    main()
