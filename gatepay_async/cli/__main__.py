"""``python -m gatepay_async.cli``: the same as the ``gatepay`` command."""

from gatepay_async.cli import main

main()
