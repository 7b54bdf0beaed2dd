using JitVm.Core.State;
using JitVm.Cpu.Fpu;

namespace JitVm.Cpu;

/// <summary>
/// Snapshot support for the x87 (section "FPU "): the eight data registers as stored, control and status words, TOP,
/// the valid-register mask (FXSAVE's abridged tag word), FOP and the last instruction and operand pointers, and the
/// FERR# output. The FXSAVE image is built from these; no model here has SSE, so there is no MXCSR or XMM state.
/// </summary>
public sealed partial class Processor
{
    const ushort FpuStateVersion = 1;

    void SaveFpuState(StateWriter w)
    {
        w.BeginSection("FPU ", FpuStateVersion);
        w.WriteBool(fpuPresent);
        for (int i = 0; i < 8; i++)
        {
            w.WriteUInt16(Fpu.R[i].SignExponent);
            w.WriteUInt64(Fpu.R[i].Significand);
        }
        w.WriteUInt16(Fpu.Control);
        w.WriteUInt16(Fpu.Status);
        w.WriteByte((byte)Fpu.Top);
        w.WriteByte(Fpu.Valid);
        w.WriteUInt16(Fpu.Opcode);
        w.WriteUInt32(Fpu.Ip);
        w.WriteUInt32(Fpu.Dp);
        w.WriteUInt16(Fpu.Cs);
        w.WriteUInt16(Fpu.Ds);
        w.WriteBool(Fpu.Ferr);
        w.EndSection();
    }

    FpuState ReadFpuState(StateReader r)
    {
        r.BeginSection("FPU ", FpuStateVersion);
        bool present = r.ReadBool("fpu present");
        if (present != fpuPresent) throw r.Invalid("fpu present", $"the snapshot's CPU {(present ? "has" : "has no")} FPU, this one {(fpuPresent ? "has" : "has none")}");
        var s = default(FpuState);
        for (int i = 0; i < 8; i++)
        {
            ushort se = r.ReadUInt16($"r{i} sign/exponent");
            ulong significand = r.ReadUInt64($"r{i} significand");
            s.R[i] = new Float80(se, significand);
        }
        s.Control = r.ReadUInt16("control word");
        s.Status = r.ReadUInt16("status word");
        if ((s.Status & FpuTopMask) != 0) throw r.Invalid("status word", "TOP is kept apart; bits 11-13 must be clear");
        s.Top = r.ReadByte("top", 0, 7);
        s.Valid = r.ReadByte("valid registers");
        s.Opcode = r.ReadUInt16("fop");
        s.Ip = r.ReadUInt32("fip");
        s.Dp = r.ReadUInt32("fdp");
        s.Cs = r.ReadUInt16("fcs");
        s.Ds = r.ReadUInt16("fds");
        s.Ferr = r.ReadBool("ferr");
        r.EndSection();
        return s;
    }
}
