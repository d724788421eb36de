"""Helper package of the course kit "Neural Networks: From Python to FPGA".

Organised by pipeline stage: ``data``, ``train``, ``quant``, ``models``, ``export``, ``finnflow``
(FINN without Vivado), ``hw`` (boards, block design, .hwh), ``board`` (runs on the PYNQ board:
numpy + pynq only), ``checks`` (exercise checkpoints), ``plots``, ``authoring`` (student notebooks,
release, grading) and ``cli`` (the ``course`` command).

Importing this package is cheap and has no side effects: every sub-module imports its own heavy
dependencies (torch, FINN, pynq) only when used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
