"""``python -m xlstm_lab.cli``."""

from xlstm_lab.cli import main

raise SystemExit(main())
