using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.HostOracle.X87Insn;

/// <summary>
/// Runs x87 instruction forms on the host CPU. One 64-bit stub per form takes (records, count) per the SysV ABI:
/// it saves the host's FPU/SSE state with FXSAVE, then for each record copies the input image to an aligned scratch
/// image (with the host's MXCSR), loads it with FXRSTOR, copies the memory window next to it, loads the arithmetic
/// flags, executes the instruction (its operand RIP-relative to the window), and stores EFLAGS, the FXSAVE image and
/// the window back; finally it restores the host state. Nothing after the instruction is a waiting x87 instruction
/// (FXSAVE and FXRSTOR do not report pending exceptions), so an unmasked exception the instruction raises stays in the
/// image; the inputs never have one pending.
/// </summary>
public sealed unsafe class X87InsnNative : IDisposable
{
    const int HostSave = 0, Scratch = 512, Window = 1024;
    readonly ExecutableMemory memory;
    readonly int[] offsets;

    public X87InsnNative(IReadOnlyList<X87InsnForm> forms)
    {
        memory = new ExecutableMemory(forms.Count * 192 + 4096, 4096);
        ulong data = (ulong)memory.Data;
        offsets = memory.LayOutStubs(forms.Count, (f, ip) => BuildStub(forms[f], ip, data));
    }

    /// <summary>Executes form <paramref name="form"/> for every record and fills in the outputs.</summary>
    public void Execute(int form, Span<X87InsnRecord> records)
    {
        var fn = (delegate* unmanaged<X87InsnRecord*, nint, void>)(memory.Code + offsets[form]);
        fixed (X87InsnRecord* p = records) fn(p, records.Length);
    }

    static byte[] BuildStub(X87InsnForm form, ulong ip, ulong data)
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        var done = a.CreateLabel();

        a.push(rbx);
        a.push(rbp);
        a.mov(r8, rdi);                                     // records
        a.mov(r9, rsi);                                     // count
        a.mov(r10, data);
        a.fxsave(__[r10 + HostSave]);
        a.test(r9, r9);
        a.jz(done);
        a.Label(ref loop);
        a.lea(rsi, __[r8 + X87InsnRecord.InImageOffset]);
        a.lea(rdi, __[r10 + Scratch]);
        a.mov(ecx, X87InsnRecord.ImageSize / 8);
        a.rep.movsq();
        a.mov(eax, __dword_ptr[r10 + HostSave + X87InsnRecord.MxcsrOffset]);
        a.mov(__dword_ptr[r10 + Scratch + X87InsnRecord.MxcsrOffset], eax);
        a.fxrstor(__[r10 + Scratch]);
        a.mov(rax, __qword_ptr[r8 + X87InsnRecord.InMemOffset]);
        a.mov(__qword_ptr[r10 + Window], rax);
        a.mov(rax, __qword_ptr[r8 + X87InsnRecord.InMemOffset + 8]);
        a.mov(__qword_ptr[r10 + Window + 8], rax);
        a.mov(eax, __dword_ptr[r8 + X87InsnRecord.InFlagsOffset]);
        a.push(rax);
        a.popfq();

        var insn = form.Host;
        if (form.Operand != X87Operand.None)
        {
            insn.MemoryBase = Register.RIP;
            insn.MemoryIndex = Register.None;
            insn.MemoryDisplacement64 = data + Window;
            insn.MemoryDisplSize = 8;
        }
        a.AddInstruction(insn);

        a.pushfq();
        a.pop(rax);
        a.mov(__dword_ptr[r8 + X87InsnRecord.OutFlagsOffset], eax);
        a.fxsave(__[r10 + Scratch]);
        a.lea(rsi, __[r10 + Scratch]);
        a.lea(rdi, __[r8 + X87InsnRecord.OutImageOffset]);
        a.mov(ecx, X87InsnRecord.ImageSize / 8);
        a.rep.movsq();
        a.mov(rax, __qword_ptr[r10 + Window]);
        a.mov(__qword_ptr[r8 + X87InsnRecord.OutMemOffset], rax);
        a.mov(rax, __qword_ptr[r10 + Window + 8]);
        a.mov(__qword_ptr[r8 + X87InsnRecord.OutMemOffset + 8], rax);
        a.add(r8, X87InsnRecord.Size);
        a.dec(r9);
        a.jnz(loop);
        a.Label(ref done);
        a.fxrstor(__[r10 + HostSave]);
        a.pop(rbp);
        a.pop(rbx);
        a.ret();

        var w = new OracleForm.ByteWriter();
        a.Assemble(w, ip);
        return w.ToArray();
    }

    public void Dispose() => memory.Dispose();
}
