"""``course demo``: the whole course pipeline headless, with one report (host environment).

Stages (``course_utils.demo.stages``): data -> float baseline -> QAT -> QONNX export -> FINN ->
[stitched IP] -> deploy package -> [bitstream] -> board inference -> bit-width sweep -> report.
``runner`` runs them with a state file (resume, fail fast), ``report`` writes Markdown and HTML.
``board_side`` is the only module that runs in the board environment (numpy + pynq).
Importing this package is cheap.
"""
