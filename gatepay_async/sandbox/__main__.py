"""``python -m gatepay_async.sandbox``."""

from gatepay_async.sandbox._command import main

raise SystemExit(main())
