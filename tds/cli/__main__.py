"""``python -m tds.cli``: the ``tds`` command."""

from tds.cli import main

if __name__ == "__main__":
    main()
