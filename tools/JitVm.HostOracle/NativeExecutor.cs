using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.HostOracle;

/// <summary>
/// Runs oracle forms on the host CPU. Each form gets a stub generated with Iced's 64-bit assembler into
/// executable memory; a stub takes (records, count) per the SysV ABI and for each record that is not a #DE
/// vector: copies the 16-byte memory window into a scratch area, loads RFLAGS (arithmetic flags, bit 1 and IF;
/// never TF/DF/AC) with POPFQ and EAX..EDI (not ESP) from the record, executes the instruction (its memory
/// operand RIP-relative to the scratch area, no REX prefix so AH..BH stay encodable), then stores RFLAGS,
/// the registers and the window back. RBX and RBP are saved; the other registers it uses are caller-saved.
/// </summary>
public sealed unsafe class NativeExecutor : IDisposable
{
    readonly ExecutableMemory memory;
    readonly int[] offsets;

    public NativeExecutor(IReadOnlyList<OracleForm> forms)
    {
        memory = new ExecutableMemory(forms.Count * 256 + 4096, 4096);
        ulong scratch = (ulong)memory.Data;
        offsets = memory.LayOutStubs(forms.Count, (f, ip) => BuildStub(forms[f], ip, scratch));
    }

    /// <summary>Executes form <paramref name="form"/> for every record (those with <see cref="VectorStatus.DivideError"/> are skipped) and fills in the outputs.</summary>
    public void Execute(int form, Span<VectorRecord> records)
    {
        var fn = (delegate* unmanaged<VectorRecord*, nint, void>)(memory.Code + offsets[form]);
        fixed (VectorRecord* p = records) fn(p, records.Length);
    }

    static byte[] BuildStub(OracleForm form, ulong ip, ulong scratch)
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        var next = a.CreateLabel();
        var done = a.CreateLabel();
        const int In = VectorRecord.InRegsOffset, Out = VectorRecord.OutRegsOffset;

        a.push(rbx);
        a.push(rbp);
        a.mov(r8, rdi);                     // records
        a.mov(r9, rsi);                     // count
        a.mov(r10, scratch);
        a.test(r9, r9);
        a.jz(done);
        a.Label(ref loop);
        a.cmp(__dword_ptr[r8 + VectorRecord.StatusOffset], 0);
        a.jne(next);
        a.mov(rax, __qword_ptr[r8 + VectorRecord.InMemOffset]);
        a.mov(__qword_ptr[r10], rax);
        a.mov(rax, __qword_ptr[r8 + VectorRecord.InMemOffset + 8]);
        a.mov(__qword_ptr[r10 + 8], rax);
        a.mov(eax, __dword_ptr[r8 + VectorRecord.InFlagsOffset]);
        a.push(rax);
        a.popfq();
        a.mov(eax, __dword_ptr[r8 + In + 0]);
        a.mov(ecx, __dword_ptr[r8 + In + 4]);
        a.mov(edx, __dword_ptr[r8 + In + 8]);
        a.mov(ebx, __dword_ptr[r8 + In + 12]);
        a.mov(ebp, __dword_ptr[r8 + In + 20]);
        a.mov(esi, __dword_ptr[r8 + In + 24]);
        a.mov(edi, __dword_ptr[r8 + In + 28]);

        foreach (var insn in form.NativeSequence) a.AddInstruction(HostInstruction(insn, scratch + VectorRecord.OperandOffset));

        a.pushfq();
        a.mov(__dword_ptr[r8 + Out + 0], eax);
        a.mov(__dword_ptr[r8 + Out + 4], ecx);
        a.mov(__dword_ptr[r8 + Out + 8], edx);
        a.mov(__dword_ptr[r8 + Out + 12], ebx);
        a.mov(__dword_ptr[r8 + Out + 20], ebp);
        a.mov(__dword_ptr[r8 + Out + 24], esi);
        a.mov(__dword_ptr[r8 + Out + 28], edi);
        a.pop(rax);
        a.mov(__dword_ptr[r8 + VectorRecord.OutFlagsOffset], eax);
        a.mov(rax, __qword_ptr[r10]);
        a.mov(__qword_ptr[r8 + VectorRecord.OutMemOffset], rax);
        a.mov(rax, __qword_ptr[r10 + 8]);
        a.mov(__qword_ptr[r8 + VectorRecord.OutMemOffset + 8], rax);
        a.Label(ref next);
        a.add(r8, VectorRecord.Size);
        a.dec(r9);
        a.jnz(loop);
        a.Label(ref done);
        a.pop(rbp);
        a.pop(rbx);
        a.ret();

        var w = new OracleForm.ByteWriter();
        a.Assemble(w, ip);
        return w.ToArray();
    }

    /// <summary>A native instruction with its memory operand (if any) made RIP-relative to <paramref name="operand"/>.</summary>
    static Instruction HostInstruction(Instruction insn, ulong operand)
    {
        if (!OracleForm.UsesMemory(insn)) return insn;
        insn.MemoryBase = Register.RIP;
        insn.MemoryIndex = Register.None;
        insn.MemoryDisplacement64 = operand;
        insn.MemoryDisplSize = 8;
        insn.SegmentPrefix = Register.None;
        return insn;
    }

    /// <summary>The instructions under test as the host runs them (for reports; the memory operand as if at 1000h from address 0).</summary>
    public static string NativeBytes(OracleForm form) =>
        Convert.ToHexString(form.NativeSequence.SelectMany(i => OracleForm.Encode(HostInstruction(i, 0x1000), 64, 0)).ToArray());

    public void Dispose() => memory.Dispose();
}
