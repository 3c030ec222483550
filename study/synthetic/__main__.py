"""`python -m study.synthetic`: see study.synthetic.command."""
import sys

from study.synthetic.command import main

if __name__ == "__main__":
    sys.exit(main())
