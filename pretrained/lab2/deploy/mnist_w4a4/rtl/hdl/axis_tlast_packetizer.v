// axis_tlast_packetizer: give a FINN accelerator's output stream the TLAST an AXI DMA needs.
//
// Part of the course kit "Neural Networks: From Python to FPGA" (BSD-3-Clause).
//
// A FINN stitched IP streams frames (one frame = one sample) without TLAST, and the S2MM channel of
// a Xilinx AXI DMA in simple mode only completes a transfer when it sees TLAST. This module sits on
// both streams of the accelerator:
//
//   DMA M_AXIS_MM2S -> s_axis_in  ==(pass-through)==> m_axis_in  -> accelerator s_axis_0
//   accelerator m_axis_0 -> s_axis_out ==(+TLAST)==> m_axis_out -> DMA S_AXIS_S2MM
//
// On the input stream it counts beats into frames (IN_BEATS beats per frame). When the beat that
// carries the MM2S TLAST is accepted, the number of frames completed in that packet is pushed into
// a small FIFO. On the output stream it counts OUT_BEATS beats per frame and asserts TLAST on the
// last beat of the last frame of the packet at the head of the FIFO, then pops it. So one DMA send
// of N samples gives exactly one S2MM packet of N results, for any N; plain PYNQ DMA code works.
//
// Frames whose input is still incomplete when TLAST arrives are carried into the next packet (a
// packet that completes no frame pushes nothing). The input is held (s_axis_in_tready low) while
// the FIFO is full, so no packet count is ever lost; outputs never wait for the FIFO, so the output
// of a long packet streams out while its input is still arriving.
//
// The data paths are combinational pass-throughs (no added latency or registers); only the control
// (beat/frame counters, FIFO) is registered. Single clock domain, synchronous active-low reset.

`timescale 1ns / 1ps
`default_nettype none

module axis_tlast_packetizer #(
    parameter integer IN_WIDTH   = 128,  // TDATA bits of the accelerator input stream
    parameter integer OUT_WIDTH  = 32,   // TDATA bits of the accelerator output stream
    parameter integer IN_BEATS   = 49,   // beats per input frame (one sample) at IN_WIDTH
    parameter integer OUT_BEATS  = 5,    // beats per output frame at OUT_WIDTH
    parameter integer FIFO_DEPTH = 16,   // packets whose results are still being sent (power of 2)
    parameter integer COUNT_BITS = 32    // frames per packet counter width
) (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 aclk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axis_in:m_axis_in:s_axis_out:m_axis_out, ASSOCIATED_RESET aresetn" *)
    input  wire                   aclk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 aresetn RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input  wire                   aresetn,

    // input stream from the DMA (MM2S), with TLAST
    input  wire [IN_WIDTH-1:0]    s_axis_in_tdata,
    input  wire                   s_axis_in_tvalid,
    output wire                   s_axis_in_tready,
    input  wire                   s_axis_in_tlast,
    // the same stream into the accelerator (FINN inputs have no TLAST)
    output wire [IN_WIDTH-1:0]    m_axis_in_tdata,
    output wire                   m_axis_in_tvalid,
    input  wire                   m_axis_in_tready,

    // output stream of the accelerator (no TLAST)
    input  wire [OUT_WIDTH-1:0]   s_axis_out_tdata,
    input  wire                   s_axis_out_tvalid,
    output wire                   s_axis_out_tready,
    // the same stream to the DMA (S2MM), with TLAST at the end of each packet
    output wire [OUT_WIDTH-1:0]   m_axis_out_tdata,
    output wire                   m_axis_out_tvalid,
    input  wire                   m_axis_out_tready,
    output wire                   m_axis_out_tlast
);

    // counter widths (at least 1 bit)
    localparam integer IN_BITS  = (IN_BEATS  > 1) ? $clog2(IN_BEATS + 1)  : 1;
    localparam integer OUT_BITS = (OUT_BEATS > 1) ? $clog2(OUT_BEATS + 1) : 1;
    localparam integer AW       = (FIFO_DEPTH > 2) ? $clog2(FIFO_DEPTH) : 1;  // FIFO address bits
    /* verilator lint_off WIDTHTRUNC */  // the constants fit their counters by construction
    localparam [IN_BITS-1:0]  IN_LAST  = IN_BEATS - 1;   // index of a frame's last input beat
    localparam [OUT_BITS-1:0] OUT_LAST = OUT_BEATS - 1;  // index of a frame's last output beat
    /* verilator lint_on WIDTHTRUNC */

    // ---------------------------------------------------------------- packet-count FIFO
    reg  [COUNT_BITS-1:0] fifo_mem [0:(1 << AW) - 1];
    reg  [AW:0]           wr_ptr, rd_ptr;
    wire                  fifo_empty = (wr_ptr == rd_ptr);
    wire                  fifo_full  = (wr_ptr[AW] != rd_ptr[AW]) && (wr_ptr[AW-1:0] == rd_ptr[AW-1:0]);
    wire [COUNT_BITS-1:0] fifo_head  = fifo_mem[rd_ptr[AW-1:0]];

    // ---------------------------------------------------------------- input side (pass-through)
    reg  [IN_BITS-1:0]    in_beat;     // beats of the current frame seen so far
    reg  [COUNT_BITS-1:0] in_frames;   // frames completed in the current packet

    assign m_axis_in_tdata  = s_axis_in_tdata;
    assign m_axis_in_tvalid = s_axis_in_tvalid && !fifo_full;
    assign s_axis_in_tready = m_axis_in_tready && !fifo_full;

    wire                  in_fire      = s_axis_in_tvalid && s_axis_in_tready;
    wire                  in_frame_end = in_fire && (in_beat == IN_LAST);
    wire [COUNT_BITS-1:0] in_frames_nx = in_frames + (in_frame_end ? 1 : 0);
    wire                  push         = in_fire && s_axis_in_tlast && (in_frames_nx != 0);

    always @(posedge aclk) begin
        if (!aresetn) begin
            in_beat   <= 0;
            in_frames <= 0;
        end else if (in_fire) begin
            in_beat   <= in_frame_end ? 0 : in_beat + 1;
            // a packet that ends mid-frame carries its completed-frame count into the next one
            in_frames <= (s_axis_in_tlast && in_frames_nx != 0) ? 0 : in_frames_nx;
        end
    end

    // ---------------------------------------------------------------- output side (+TLAST)
    reg  [OUT_BITS-1:0]   out_beat;    // beats of the current output frame sent so far
    reg  [COUNT_BITS-1:0] out_frames;  // frames of the current packet sent so far

    wire out_fire       = s_axis_out_tvalid && m_axis_out_tready;
    wire out_frame_last = (out_beat == OUT_LAST);
    // the packet's count is known before its last output frame can exist (its input came first)
    wire out_pkt_last   = out_frame_last && !fifo_empty && (out_frames + 1 == fifo_head);
    wire pop            = out_fire && out_pkt_last;

    assign m_axis_out_tdata  = s_axis_out_tdata;
    assign m_axis_out_tvalid = s_axis_out_tvalid;
    assign s_axis_out_tready = m_axis_out_tready;
    assign m_axis_out_tlast  = out_pkt_last;

    always @(posedge aclk) begin
        if (!aresetn) begin
            out_beat   <= 0;
            out_frames <= 0;
        end else if (out_fire) begin
            out_beat <= out_frame_last ? 0 : out_beat + 1;
            if (out_frame_last)
                out_frames <= out_pkt_last ? 0 : out_frames + 1;
        end
    end

    // ---------------------------------------------------------------- FIFO pointers
    always @(posedge aclk) begin
        if (!aresetn) begin
            wr_ptr <= 0;
            rd_ptr <= 0;
        end else begin
            if (push) begin
                fifo_mem[wr_ptr[AW-1:0]] <= in_frames_nx;
                wr_ptr <= wr_ptr + 1;
            end
            if (pop)
                rd_ptr <= rd_ptr + 1;
        end
    end

endmodule

`default_nettype wire
