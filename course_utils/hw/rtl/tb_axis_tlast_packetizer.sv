// Testbench of axis_tlast_packetizer (Verilator 5 --binary --timing, or any SystemVerilog simulator).
//
// A DMA-like source sends packets of whole frames (sizes read from +PACKETS=<file>, one decimal
// number of frames per line) with random valid gaps; a model accelerator with random back-pressure
// and a small frame buffer turns each IN_BEATS-beat frame into OUT_BEATS beats after some latency;
// a DMA-like sink with random back-pressure checks data order and that TLAST comes exactly on the
// last beat of each packet. It prints one "TLAST <beat>" line per TLAST seen (beat = index of the
// output beat, from 0) and "DONE ..." at the end; any violation stops with $fatal (non-zero exit).

`timescale 1ns / 1ps

module tb_axis_tlast_packetizer;
    parameter integer IN_WIDTH   = 16;
    parameter integer OUT_WIDTH  = 24;
    parameter integer IN_BEATS   = 3;
    parameter integer OUT_BEATS  = 2;
    parameter integer FIFO_DEPTH = 4;
    parameter integer ACC_FRAMES = 3;    // frames the model accelerator can buffer
    parameter integer LATENCY    = 5;    // cycles from a frame's last input beat to its first output
    parameter integer MAX_PACKETS = 64;

    reg clk = 0, rstn = 0;
    always #5 clk = ~clk;

    // DUT ports
    reg  [IN_WIDTH-1:0]  s_in_tdata;
    reg                  s_in_tvalid, s_in_tlast;
    wire                 s_in_tready;
    wire [IN_WIDTH-1:0]  m_in_tdata;
    wire                 m_in_tvalid;
    reg                  m_in_tready;
    reg  [OUT_WIDTH-1:0] s_out_tdata;
    reg                  s_out_tvalid;
    wire                 s_out_tready;
    wire [OUT_WIDTH-1:0] m_out_tdata;
    wire                 m_out_tvalid, m_out_tlast;
    reg                  m_out_tready;

    axis_tlast_packetizer #(
        .IN_WIDTH(IN_WIDTH), .OUT_WIDTH(OUT_WIDTH), .IN_BEATS(IN_BEATS), .OUT_BEATS(OUT_BEATS),
        .FIFO_DEPTH(FIFO_DEPTH)
    ) dut (
        .aclk(clk), .aresetn(rstn),
        .s_axis_in_tdata(s_in_tdata), .s_axis_in_tvalid(s_in_tvalid), .s_axis_in_tready(s_in_tready),
        .s_axis_in_tlast(s_in_tlast),
        .m_axis_in_tdata(m_in_tdata), .m_axis_in_tvalid(m_in_tvalid), .m_axis_in_tready(m_in_tready),
        .s_axis_out_tdata(s_out_tdata), .s_axis_out_tvalid(s_out_tvalid), .s_axis_out_tready(s_out_tready),
        .m_axis_out_tdata(m_out_tdata), .m_axis_out_tvalid(m_out_tvalid), .m_axis_out_tready(m_out_tready),
        .m_axis_out_tlast(m_out_tlast)
    );

    // ------------------------------------------------------------------ packets to send
    integer packets [0:MAX_PACKETS-1];
    integer n_packets = 0, total_frames = 0;
    integer valid_pct = 70, in_ready_pct = 75, out_ready_pct = 60;
    initial begin : load
        integer fd, v, r;
        string path;
        if (!$value$plusargs("PACKETS=%s", path)) $fatal(1, "usage: +PACKETS=<file with frames per packet>");
        void'($value$plusargs("VALID_PCT=%d", valid_pct));
        void'($value$plusargs("IN_READY_PCT=%d", in_ready_pct));
        void'($value$plusargs("OUT_READY_PCT=%d", out_ready_pct));
        fd = $fopen(path, "r");
        if (fd == 0) $fatal(1, "cannot open %s", path);
        while (!$feof(fd) && n_packets < MAX_PACKETS) begin
            r = $fscanf(fd, "%d\n", v);
            if (r == 1) begin
                if (v < 1) $fatal(1, "packet sizes must be >= 1 frame");
                packets[n_packets] = v;
                n_packets = n_packets + 1;
                total_frames = total_frames + v;
            end else begin
                break;
            end
        end
        $fclose(fd);
        if (n_packets == 0) $fatal(1, "no packets in %s", path);
    end

    function automatic bit chance(input integer pct);
        chance = ($urandom % 100) < pct;
    endfunction

    // ------------------------------------------------------------------ source (DMA MM2S)
    integer src_pkt = 0, src_frame = 0, src_beat = 0, src_word = 0;
    always @(posedge clk) begin
        if (!rstn) begin
            s_in_tvalid <= 0;
            s_in_tlast  <= 0;
            s_in_tdata  <= 0;
        end else begin
            if (s_in_tvalid && s_in_tready) begin  // advance after a handshake
                src_word = src_word + 1;
                src_beat = src_beat + 1;
                if (src_beat == IN_BEATS) begin
                    src_beat = 0;
                    src_frame = src_frame + 1;
                    if (src_frame == packets[src_pkt]) begin
                        src_frame = 0;
                        src_pkt = src_pkt + 1;
                    end
                end
            end
            if (s_in_tvalid && !s_in_tready) begin
                // AXI-Stream: hold valid and data until accepted
            end else if (src_pkt < n_packets && chance(valid_pct)) begin
                s_in_tvalid <= 1;
                s_in_tdata  <= IN_WIDTH'(src_word);
                s_in_tlast  <= (src_beat == IN_BEATS - 1) && (src_frame == packets[src_pkt] - 1);
            end else begin
                s_in_tvalid <= 0;
                s_in_tlast  <= 0;
            end
        end
    end

    // ------------------------------------------------------------------ model accelerator
    integer acc_in_beat = 0, acc_in_word = 0, frames_in = 0, frames_out = 0, out_beat = 0;
    integer ready_at [0:1023];  // cycle when each frame's output may start
    integer cycle = 0;
    always @(posedge clk) cycle <= cycle + 1;

    always @(posedge clk) begin
        if (!rstn) begin
            m_in_tready  <= 0;
            s_out_tvalid <= 0;
            s_out_tdata  <= 0;
        end else begin
            if (m_in_tvalid && m_in_tready) begin
                if (m_in_tdata !== IN_WIDTH'(acc_in_word))
                    $fatal(1, "input data out of order: got %0d, expected %0d", m_in_tdata, acc_in_word);
                acc_in_word = acc_in_word + 1;
                acc_in_beat = acc_in_beat + 1;
                if (acc_in_beat == IN_BEATS) begin
                    acc_in_beat = 0;
                    ready_at[frames_in % 1024] = cycle + LATENCY;
                    frames_in = frames_in + 1;
                end
            end
            m_in_tready <= (frames_in - frames_out < ACC_FRAMES) && chance(in_ready_pct);

            if (s_out_tvalid && s_out_tready) begin
                out_beat = out_beat + 1;
                if (out_beat == OUT_BEATS) begin
                    out_beat = 0;
                    frames_out = frames_out + 1;
                end
            end
            if (s_out_tvalid && !s_out_tready) begin
                // hold
            end else if (frames_out < frames_in && cycle >= ready_at[frames_out % 1024] && chance(valid_pct)) begin
                s_out_tvalid <= 1;
                s_out_tdata  <= OUT_WIDTH'(frames_out * OUT_BEATS + out_beat);
            end else begin
                s_out_tvalid <= 0;
            end
        end
    end

    // ------------------------------------------------------------------ sink (DMA S2MM) and checks
    integer got = 0, pkt = 0, pkt_end = 0, tlasts = 0;
    always @(posedge clk) begin
        if (!rstn) begin
            m_out_tready <= 0;
        end else begin
            m_out_tready <= chance(out_ready_pct);
            if (m_out_tvalid && m_out_tready) begin
                if (m_out_tdata !== OUT_WIDTH'(got))
                    $fatal(1, "output data out of order: got %0d, expected %0d", m_out_tdata, got);
                if (pkt < n_packets && got == pkt_end + packets[pkt] * OUT_BEATS - 1) begin
                    if (!m_out_tlast) $fatal(1, "missing TLAST at output beat %0d (end of packet %0d)", got, pkt);
                end else if (m_out_tlast) begin
                    $fatal(1, "unexpected TLAST at output beat %0d (packet %0d)", got, pkt);
                end
                if (m_out_tlast) begin
                    $display("TLAST %0d", got);
                    tlasts = tlasts + 1;
                    pkt_end = got + 1;
                    pkt = pkt + 1;
                end
                got = got + 1;
            end
        end
    end

    initial begin
        integer seed;
        if ($value$plusargs("SEED=%d", seed)) void'($urandom(seed));
        repeat (4) @(posedge clk);
        rstn = 1;
        wait (n_packets > 0 && got == total_frames * OUT_BEATS);
        repeat (20) @(posedge clk);
        if (m_out_tvalid) $fatal(1, "extra output after the last packet");
        $display("DONE packets=%0d frames=%0d out_beats=%0d tlasts=%0d cycles=%0d",
                 n_packets, total_frames, got, tlasts, cycle);
        $finish;
    end

    initial begin
        #50000000;
        $fatal(1, "timeout: %0d of %0d output beats after %0d cycles", got, total_frames * OUT_BEATS, cycle);
    end
endmodule
