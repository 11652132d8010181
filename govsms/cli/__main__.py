"""``python -m govsms.cli``, as the benchmarks start the command."""

from govsms.cli import main

raise SystemExit(main())
