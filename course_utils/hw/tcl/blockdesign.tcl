# The kit's block design for Lab 3: Zynq-7020 PS7 + AXI DMA (simple mode) + the FINN accelerator.
#
# Part of the course kit "Neural Networks: From Python to FPGA" (BSD-3-Clause).
#
# This file is the single description of the hardware around the accelerator. Vivado sources it to
# build the bitstream (see build.tcl), and the kit's dry run (course_utils/hw/dryrun.py) sources the
# very same file in a plain Tcl interpreter with the Vivado block-design commands stubbed, to test it
# and to generate the .hwh that the virtual board loads. Everything is explicit: no
# apply_bd_automation, every cell, connection and address is written out below.
#
# Input: the Tcl array `kit`, set by params.tcl (written by course_utils.hw.blockdesign from the deploy
# package's accelerator.json):
#   design_name, board, ps7_config (a CONFIG.* list), ddr_range,
#   accel_vlnv, accel_name, accel_in_bits, accel_out_bits, accel_axilite (interface name or ""),
#   in_beats, out_beats, dma_name, dma_mm2s_bits, dma_s2mm_bits, dma_mm_bits, dma_length_width,
#   dma_base, accel_base, tlast (1: insert axis_tlast_packetizer; 0: the "missing TLAST" variant),
#   tlast_fifo_depth.
#
# Block diagram (widths in bits; a width converter appears only where DMA and accelerator differ):
#
#   PS7 M_AXI_GP0 -> ps7_0_axi_periph -> axi_dma_0/S_AXI_LITE (registers at dma_base)
#   axi_dma_0/M_AXI_MM2S, M_AXI_S2MM -> axi_mem_intercon -> PS7 S_AXI_HP0 (DDR)
#   axi_dma_0/M_AXIS_MM2S [-> axis_dwidth_in] -> tlast_0/s_axis_in -> tlast_0/m_axis_in -> accelerator/s_axis_0
#   accelerator/m_axis_0 -> tlast_0/s_axis_out -> tlast_0/m_axis_out [-> axis_dwidth_out] -> axi_dma_0/S_AXIS_S2MM
#   FCLK_CLK0 clocks everything; rst_ps7_0_fclk0 (proc_sys_reset) resets everything.

proc kit_require {names} {
    global kit
    foreach n $names {
        if {![info exists kit($n)]} {
            error "blockdesign.tcl: kit($n) is not set; source the params.tcl written by course_utils.hw first"
        }
    }
}

# Connect two AXI-Stream interface pins, through an axis_dwidth_converter when their widths differ.
proc kit_stream {from from_bits to to_bits conv_name} {
    if {$from_bits == $to_bits} {
        connect_bd_intf_net [get_bd_intf_pins $from] [get_bd_intf_pins $to]
        return ""
    }
    set conv [create_bd_cell -type ip -vlnv xilinx.com:ip:axis_dwidth_converter:1.1 $conv_name]
    set_property -dict [list \
        CONFIG.S_TDATA_NUM_BYTES [expr {$from_bits / 8}] \
        CONFIG.M_TDATA_NUM_BYTES [expr {$to_bits / 8}] \
        CONFIG.HAS_TLAST {1} \
        CONFIG.HAS_TKEEP {1} \
        CONFIG.HAS_MI_TKEEP {1} \
    ] $conv
    connect_bd_intf_net [get_bd_intf_pins $from] [get_bd_intf_pins $conv_name/S_AXIS]
    connect_bd_intf_net [get_bd_intf_pins $conv_name/M_AXIS] [get_bd_intf_pins $to]
    return $conv_name
}

proc kit_block_design {} {
    global kit
    kit_require {design_name ps7_config ddr_range accel_vlnv accel_name accel_in_bits accel_out_bits
                 accel_axilite in_beats out_beats dma_name dma_mm2s_bits dma_s2mm_bits dma_mm_bits
                 dma_length_width dma_base accel_base tlast tlast_fifo_depth}
    set dma $kit(dma_name)
    set acc $kit(accel_name)

    create_bd_design $kit(design_name)

    # ---------------------------------------------------------------- processing system
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 processing_system7_0]
    set_property -dict $kit(ps7_config) $ps
    set ddr [create_bd_intf_port -mode Master -vlnv xilinx.com:interface:ddrx_rtl:1.0 DDR]
    set fixed_io [create_bd_intf_port -mode Master \
        -vlnv xilinx.com:display_processing_system7:fixedio_rtl:1.0 FIXED_IO]
    connect_bd_intf_net $ddr [get_bd_intf_pins processing_system7_0/DDR]
    connect_bd_intf_net $fixed_io [get_bd_intf_pins processing_system7_0/FIXED_IO]

    set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 rst_ps7_0_fclk0]

    # ---------------------------------------------------------------- AXI DMA, simple mode
    set dma_cell [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 $dma]
    set_property -dict [list \
        CONFIG.c_include_sg {0} \
        CONFIG.c_sg_length_width $kit(dma_length_width) \
        CONFIG.c_sg_include_stscntrl_strm {0} \
        CONFIG.c_micro_dma {0} \
        CONFIG.c_include_mm2s {1} \
        CONFIG.c_include_s2mm {1} \
        CONFIG.c_m_axi_mm2s_data_width $kit(dma_mm_bits) \
        CONFIG.c_m_axis_mm2s_tdata_width $kit(dma_mm2s_bits) \
        CONFIG.c_m_axi_s2mm_data_width $kit(dma_mm_bits) \
        CONFIG.c_s_axis_s2mm_tdata_width $kit(dma_s2mm_bits) \
        CONFIG.c_include_mm2s_dre {0} \
        CONFIG.c_include_s2mm_dre {0} \
        CONFIG.c_mm2s_burst_size {16} \
        CONFIG.c_s2mm_burst_size {16} \
        CONFIG.c_addr_width {32} \
    ] $dma_cell

    # ---------------------------------------------------------------- the accelerator (Lab 2)
    create_bd_cell -type ip -vlnv $kit(accel_vlnv) $acc

    # ---------------------------------------------------------------- AXI interconnects
    set n_periph [expr {$kit(accel_axilite) eq "" ? 1 : 2}]
    set periph [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect:2.1 ps7_0_axi_periph]
    set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI $n_periph] $periph
    set mem [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect:2.1 axi_mem_intercon]
    set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] $mem

    connect_bd_intf_net [get_bd_intf_pins processing_system7_0/M_AXI_GP0] [get_bd_intf_pins ps7_0_axi_periph/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins ps7_0_axi_periph/M00_AXI] [get_bd_intf_pins $dma/S_AXI_LITE]
    if {$kit(accel_axilite) ne ""} {
        connect_bd_intf_net [get_bd_intf_pins ps7_0_axi_periph/M01_AXI] [get_bd_intf_pins $acc/$kit(accel_axilite)]
    }
    connect_bd_intf_net [get_bd_intf_pins $dma/M_AXI_MM2S] [get_bd_intf_pins axi_mem_intercon/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins $dma/M_AXI_S2MM] [get_bd_intf_pins axi_mem_intercon/S01_AXI]
    connect_bd_intf_net [get_bd_intf_pins axi_mem_intercon/M00_AXI] [get_bd_intf_pins processing_system7_0/S_AXI_HP0]

    # ---------------------------------------------------------------- streams (+ TLAST)
    set clocked [list $acc/ap_clk]
    set resets [list $acc/ap_rst_n]
    if {$kit(tlast)} {
        set tl [create_bd_cell -type module -reference axis_tlast_packetizer tlast_0]
        set_property -dict [list \
            CONFIG.IN_WIDTH $kit(accel_in_bits) \
            CONFIG.OUT_WIDTH $kit(accel_out_bits) \
            CONFIG.IN_BEATS $kit(in_beats) \
            CONFIG.OUT_BEATS $kit(out_beats) \
            CONFIG.FIFO_DEPTH $kit(tlast_fifo_depth) \
        ] $tl
        set c1 [kit_stream $dma/M_AXIS_MM2S $kit(dma_mm2s_bits) tlast_0/s_axis_in $kit(accel_in_bits) axis_dwidth_in]
        connect_bd_intf_net [get_bd_intf_pins tlast_0/m_axis_in] [get_bd_intf_pins $acc/s_axis_0]
        connect_bd_intf_net [get_bd_intf_pins $acc/m_axis_0] [get_bd_intf_pins tlast_0/s_axis_out]
        set c2 [kit_stream tlast_0/m_axis_out $kit(accel_out_bits) $dma/S_AXIS_S2MM $kit(dma_s2mm_bits) axis_dwidth_out]
        lappend clocked tlast_0/aclk
        lappend resets tlast_0/aresetn
    } else {
        # the "missing TLAST" variant: the accelerator's output goes straight to the DMA, whose
        # S2MM TLAST input is then tied low and a receive transfer never completes
        set c1 [kit_stream $dma/M_AXIS_MM2S $kit(dma_mm2s_bits) $acc/s_axis_0 $kit(accel_in_bits) axis_dwidth_in]
        set c2 [kit_stream $acc/m_axis_0 $kit(accel_out_bits) $dma/S_AXIS_S2MM $kit(dma_s2mm_bits) axis_dwidth_out]
    }
    foreach conv [list $c1 $c2] {
        if {$conv ne ""} {
            lappend clocked $conv/aclk
            lappend resets $conv/aresetn
        }
    }

    # ---------------------------------------------------------------- clock and resets (FCLK0)
    set clk_pins [list \
        processing_system7_0/M_AXI_GP0_ACLK processing_system7_0/S_AXI_HP0_ACLK \
        rst_ps7_0_fclk0/slowest_sync_clk \
        $dma/s_axi_lite_aclk $dma/m_axi_mm2s_aclk $dma/m_axi_s2mm_aclk \
        ps7_0_axi_periph/ACLK ps7_0_axi_periph/S00_ACLK \
        axi_mem_intercon/ACLK axi_mem_intercon/S00_ACLK axi_mem_intercon/S01_ACLK axi_mem_intercon/M00_ACLK]
    set periph_rst_pins [list $dma/axi_resetn ps7_0_axi_periph/S00_ARESETN \
        axi_mem_intercon/S00_ARESETN axi_mem_intercon/S01_ARESETN axi_mem_intercon/M00_ARESETN]
    for {set i 0} {$i < $n_periph} {incr i} {
        lappend clk_pins [format "ps7_0_axi_periph/M%02d_ACLK" $i]
        lappend periph_rst_pins [format "ps7_0_axi_periph/M%02d_ARESETN" $i]
    }
    set clk_objs [list [get_bd_pins processing_system7_0/FCLK_CLK0]]
    foreach p [concat $clk_pins $clocked] { lappend clk_objs [get_bd_pins $p] }
    connect_bd_net -net clk_fclk0 {*}$clk_objs

    connect_bd_net -net rst_fclk0_n [get_bd_pins processing_system7_0/FCLK_RESET0_N] \
        [get_bd_pins rst_ps7_0_fclk0/ext_reset_in]
    connect_bd_net -net rst_interconnect_aresetn [get_bd_pins rst_ps7_0_fclk0/interconnect_aresetn] \
        [get_bd_pins ps7_0_axi_periph/ARESETN] [get_bd_pins axi_mem_intercon/ARESETN]
    set rst_objs [list [get_bd_pins rst_ps7_0_fclk0/peripheral_aresetn]]
    foreach p [concat $periph_rst_pins $resets] { lappend rst_objs [get_bd_pins $p] }
    connect_bd_net -net rst_peripheral_aresetn {*}$rst_objs

    # ---------------------------------------------------------------- address map
    assign_bd_address -offset $kit(dma_base) -range 64K \
        -target_address_space [get_bd_addr_spaces processing_system7_0/Data] \
        [get_bd_addr_segs $dma/S_AXI_LITE/Reg] -force
    if {$kit(accel_axilite) ne ""} {
        assign_bd_address -offset $kit(accel_base) -range 64K \
            -target_address_space [get_bd_addr_spaces processing_system7_0/Data] \
            [get_bd_addr_segs $acc/$kit(accel_axilite)/Reg] -force
    }
    foreach space {Data_MM2S Data_S2MM} {
        assign_bd_address -offset 0x00000000 -range $kit(ddr_range) \
            -target_address_space [get_bd_addr_spaces $dma/$space] \
            [get_bd_addr_segs processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM] -force
    }

    validate_bd_design
    save_bd_design
}

kit_block_design
