"""Sub-commands of the ``course`` CLI: each module has ``configure(parser)`` and ``run(args)``."""
