"""``python -m veason_lib.data.synthetic --out DIR --seed N [--videos K]``: write the benchmark."""

from veason_lib.data.synthetic import main

if __name__ == "__main__":
    main()
