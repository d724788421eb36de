# Build the Lab 3 bitstream with Vivado (2022.2 or 2024.2): project, block design, bitstream, .hwh.
#
# Part of the course kit "Neural Networks: From Python to FPGA" (BSD-3-Clause).
#
# Usage (course_utils.hw.vivado runs this for you):
#   vivado -mode batch -source build.tcl -tclargs <params.tcl>
# params.tcl sets the `kit` array (see blockdesign.tcl) plus:
#   name, part, board_part, proj_dir, out_dir, ip_repo (FINN stitched-IP folder), rtl_dir, jobs.
# Outputs: <out_dir>/<name>.bit and <out_dir>/<name>.hwh, copied from the implementation run and
# from the block design's hardware hand-off; the run stops with an error on negative slack.

if {[llength $argv] < 1} {
    error "usage: vivado -mode batch -source build.tcl -tclargs <params.tcl>"
}
source [lindex $argv 0]
set here [file dirname [file normalize [info script]]]
foreach n {name part proj_dir out_dir ip_repo rtl_dir jobs design_name} {
    if {![info exists kit($n)]} { error "build.tcl: kit($n) is not set in [lindex $argv 0]" }
}

create_project -force kit_lab3 $kit(proj_dir) -part $kit(part)
# board files are optional: the block design applies the PS7 preset itself
if {[info exists kit(board_part)] && [llength [get_board_parts -quiet $kit(board_part)]] > 0} {
    set_property board_part $kit(board_part) [current_project]
}
set_property ip_repo_paths [list $kit(ip_repo)] [current_project]
update_ip_catalog
add_files -norecurse [file join $kit(rtl_dir) axis_tlast_packetizer.v]
update_compile_order -fileset sources_1

source [file join $here blockdesign.tcl]

set bd_file [get_files $kit(design_name).bd]
generate_target all $bd_file
set wrapper [make_wrapper -files $bd_file -top]
add_files -norecurse $wrapper
set_property top $kit(design_name)_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs $kit(jobs)
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "implementation failed: see $kit(proj_dir)/kit_lab3.runs/impl_1/runme.log"
}
open_run impl_1
set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
if {$wns ne "" && $wns < 0} {
    error "timing not met (WNS $wns ns): lower clock_mhz or fold the accelerator less aggressively"
}
report_utilization -file [file join $kit(out_dir) utilization.rpt]
report_timing_summary -file [file join $kit(out_dir) timing.rpt]

file mkdir $kit(out_dir)
set bit [glob -nocomplain [file join $kit(proj_dir) kit_lab3.runs impl_1 *.bit]]
set hwh [glob -nocomplain \
    [file join $kit(proj_dir) kit_lab3.gen sources_1 bd $kit(design_name) hw_handoff $kit(design_name).hwh] \
    [file join $kit(proj_dir) kit_lab3.srcs sources_1 bd $kit(design_name) hw_handoff $kit(design_name).hwh]]
if {[llength $bit] != 1 || [llength $hwh] < 1} {
    error "bitstream or .hwh not found under $kit(proj_dir)"
}
file copy -force [lindex $bit 0] [file join $kit(out_dir) $kit(name).bit]
file copy -force [lindex $hwh 0] [file join $kit(out_dir) $kit(name).hwh]
puts "KIT-BUILD-OK [file join $kit(out_dir) $kit(name).bit]"
