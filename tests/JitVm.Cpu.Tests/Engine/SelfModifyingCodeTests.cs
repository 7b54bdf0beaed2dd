using static Iced.Intel.AssemblerRegisters;

namespace JitVm.Cpu.Tests.Engine;

public class SelfModifyingCodeTests
{
    [Fact]
    public void AStoreIntoTheRunningBlockTakesEffectAtTheNextInstruction()
    {
        var m = new TestMachine();
        // mov byte cs:[patch+1], 42 ; patch: mov al, 1 — the patched immediate must be seen (P6 behaviour).
        int len = m.Load(a =>
        {
            var patch = a.CreateLabel();
            a.mov(__byte_ptr.cs[0x0006], 42);      // 2E C6 06 06 00 2A: 6 bytes, so 'mov al' starts at 6
            a.mov(al, 1);                          // B0 01: its immediate is byte 7
        });
        // Point the store at the immediate of the following MOV AL (offset 7).
        m.Memory.Poke((uint)TestMachine.CodeSegment << 4, [0x2E, 0xC6, 0x06, 0x07, 0x00, 0x2A, 0xB0, 0x01, 0xF4]);
        m.Run();
        Assert.Equal(42u, m.Cpu.Eax & 0xFF);
    }

    [Fact]
    public void RewritingALoopBodyIsSeenOnTheNextPass()
    {
        var m = new TestMachine();
        // A loop whose body 'add bx, 1' (83 C3 01) is patched to 'add bx, 5' after the first pass.
        m.Memory.Poke((uint)TestMachine.CodeSegment << 4,
        [
            0xB9, 0x03, 0x00,                   // 0: mov cx, 3
            0x31, 0xDB,                         // 3: xor bx, bx
            0x83, 0xC3, 0x01,                   // 5: add bx, 1         <- patched immediate at 7
            0x2E, 0xC6, 0x06, 0x07, 0x00, 0x05, // 8: mov byte cs:[7], 5
            0xE2, 0xF5,                         // 14: loop 5
            0xF4,                               // 16: hlt
        ]);
        m.Run();
        Assert.Equal(1u + 5 + 5, m.Cpu.Ebx & 0xFFFF);
        Assert.True(m.Engine.Blocks.InvalidatedBlocks > 0);
    }

    [Fact]
    public void WritesNextToCodeDoNotInvalidateIt()
    {
        var m = new TestMachine();
        // A loop that stores into data 256 bytes after the code, in the same page but another 64-byte chunk.
        m.Load(a =>
        {
            var top = a.CreateLabel();
            a.mov(cx, 100);
            a.Label(ref top);
            a.mov(__word_ptr.cs[0x0100], cx);
            a.loop(top);
        });
        m.Run();
        Assert.Equal(0, m.Engine.Blocks.InvalidatedBlocks);
        Assert.Equal(1, m.Read16(((uint)TestMachine.CodeSegment << 4) + 0x100));
    }

    [Fact]
    public void LoaderWritesInvalidateDecodedBlocks()
    {
        var m = new TestMachine();
        m.LoadBytes(0xB0, 0x01);                 // mov al, 1
        m.Run();
        Assert.Equal(1u, m.Cpu.Eax & 0xFF);
        m.LoadBytes(0xB0, 0x02);                 // the same address, new code
        m.Cpu.Eip = 0;
        m.Cpu.Halted = false;
        m.Run();
        Assert.Equal(2u, m.Cpu.Eax & 0xFF);
    }
}
