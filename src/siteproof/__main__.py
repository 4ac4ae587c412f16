"""Allow ``python -m siteproof``."""

from siteproof.cli import main

raise SystemExit(main())
