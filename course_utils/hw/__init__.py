"""The hardware side of the kit (host env): boards, block design, dry run, `.hwh`, deploy packages.

* ``boards``: the supported Zynq-7020 boards (part, capacity, PS7 presets, FCLK dividers);
* ``tcl/``: the Vivado Tcl of the block design and of the bitstream build (the single description);
* ``blockdesign``: the Tcl parameters from ``accelerator.json``, DMA stream widths;
* ``ipmodels``: what Vivado knows about each IP of the design (pins, interfaces, parameters);
* ``dryrun``: runs the kit's real Tcl in a Tcl interpreter with the Vivado commands stubbed;
* ``hwh``: the ``.hwh`` hand-off file generated from the dry-run record (pynq reads it);
* ``rtl/``: the kit's ``axis_tlast_packetizer`` (Verilog) and its testbench;
* ``vivado``: the real build when Vivado is installed;
* ``deploy``: the deploy package writer (Lab 2 -> Lab 3).

Importing this package imports nothing heavy.
"""
