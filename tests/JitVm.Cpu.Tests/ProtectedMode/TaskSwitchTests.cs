using static Iced.Intel.AssemblerRegisters;
using static JitVm.Cpu.Tests.ProtectedModeMachine;

namespace JitVm.Cpu.Tests.ProtectedMode;

/// <summary>Hardware task switches: JMP, CALL, IRET with NT, task gates; busy bits, back-link, saved state.</summary>
public class TaskSwitchTests
{
    const ushort Tss2 = 0x48, TaskGate = 0x50;
    const uint Entry = 0x800;

    /// <summary>A second 386 TSS whose task starts at Code0:800h with ESP 8000h on the ring-0 stack.</summary>
    static ProtectedModeMachine WithSecondTask(byte[] taskCode)
    {
        var pm = new ProtectedModeMachine();
        pm.SetDescriptor(Tss2, SystemDescriptor(Tss2Base, 0x67, 0x89));
        pm.SetDescriptor(TaskGate, Gate(Tss2, 0, 0x85));
        var mem = pm.M.Memory;
        mem.Write32(Tss2Base + 0x20, Entry);
        mem.Write32(Tss2Base + 0x24, 0x0002);
        mem.Write32(Tss2Base + 0x38, 0x8000);                              // ESP
        mem.Write16(Tss2Base + 0x48, Flat0);                               // ES
        mem.Write16(Tss2Base + 0x4C, Code0);                               // CS
        mem.Write16(Tss2Base + 0x50, Stack0);                              // SS
        mem.Write16(Tss2Base + 0x54, Flat0);                               // DS
        mem.Poke(CodeBase + Entry, taskCode);
        return pm;
    }

    static byte Access(ProtectedModeMachine pm, ushort sel) => pm.M.Memory.Read8(GdtBase + sel + 5);

    [Fact]
    public void JumpToATssSavesTheOldTaskAndMovesTheBusyBit()
    {
        var pm = WithSecondTask([0xF4]);
        pm.Cpu.Cr0 &= ~Processor.Cr0TS;
        pm.Load(x => { x.mov(eax, 0x1234); x.jmp(Tss2, 0); });
        pm.Run();
        Assert.Equal(Tss2, pm.Cpu.Tr.Selector);
        Assert.Equal(Entry + 1, pm.Cpu.Eip);
        Assert.Equal(0x8000u, pm.Cpu.Esp);
        Assert.Equal(0x89, Access(pm, Tss));                               // old task no longer busy
        Assert.Equal(0x8B, Access(pm, Tss2));
        Assert.Equal(11u, pm.M.Memory.Read32(TssBase + 0x20));             // saved EIP: after the JMP
        Assert.Equal(0x1234u, pm.M.Memory.Read32(TssBase + 0x28));         // saved EAX
        Assert.Equal(Code0, pm.M.Memory.Read16(TssBase + 0x4C));
        Assert.Equal(0u, pm.M.Memory.Read16(Tss2Base));                     // no back-link
        Assert.Equal(0u, pm.Cpu.Flags & Processor.FlagNT);
        Assert.NotEqual(0u, pm.Cpu.Cr0 & Processor.Cr0TS);
        Assert.Equal(0x93, pm.M.Memory.Read8(GdtBase + Flat0 + 5));
    }

    [Fact]
    public void CallNestsTheTaskAndIretReturnsThroughTheBackLink()
    {
        // Task 2: pushfd; pop eax; mov [700h], eax; mov cx, 7; iret
        var pm = WithSecondTask([0x66, 0x9C, 0x66, 0x58, 0x66, 0xA3, 0x00, 0x07, 0xB9, 0x07, 0x00, 0xCF]);
        pm.Load(x => { x.call(Tss2, 0); x.mov(bx, 0x55); });
        pm.Run();
        Assert.Equal(Tss, pm.Cpu.Tr.Selector);
        Assert.Equal(0x55, (int)pm.Cpu.Ebx & 0xFFFF);
        Assert.Equal(0, (int)pm.Cpu.Ecx & 0xFFFF);                         // the caller's ECX came back
        Assert.NotEqual(0u, pm.M.Memory.Read32(0x700) & Processor.FlagNT); // NT inside the nested task
        Assert.Equal(Tss, pm.M.Memory.Read16(Tss2Base));                    // back-link
        Assert.Equal(7u, pm.M.Memory.Read32(Tss2Base + 0x2C));             // task 2's ECX saved by the IRET
        Assert.Equal(0u, pm.M.Memory.Read32(Tss2Base + 0x24) & Processor.FlagNT);
        Assert.Equal(0x89, Access(pm, Tss2));                              // IRET leaves task 2 not busy
        Assert.Equal(0x8B, Access(pm, Tss));
        Assert.Equal(0u, pm.Cpu.Flags & Processor.FlagNT);
    }

    [Fact]
    public void AnInterruptThroughATaskGateIsNested()
    {
        var pm = WithSecondTask([0xF4]);
        pm.SetGate(0x60, Tss2, 0, 0x85);
        pm.Load(x => x.@int(0x60));
        pm.Run();
        Assert.Equal(Tss2, pm.Cpu.Tr.Selector);
        Assert.NotEqual(0u, pm.Cpu.Flags & Processor.FlagNT);
        Assert.Equal(Tss, pm.M.Memory.Read16(Tss2Base));
        Assert.Equal(0x8B, Access(pm, Tss));
        Assert.Equal(2u, pm.M.Memory.Read32(TssBase + 0x20));              // return address: after INT 60h
    }

    [Fact]
    public void AnExceptionThroughATaskGatePushesItsErrorCodeOnTheNewStack()
    {
        var pm = WithSecondTask([0xF4]);
        pm.SetGate(CpuVectors.GP, Tss2, 0, 0x85);
        pm.Load(x => { x.mov(ax, 0x10B); x.mov(ds, ax); });
        pm.Run();
        Assert.Equal(Tss2, pm.Cpu.Tr.Selector);
        Assert.Equal(0x8000u - 4, pm.Cpu.Esp);
        Assert.Equal(0x108u, pm.M.Memory.Read32(Stack0Base + 0x8000 - 4));
        Assert.Equal(3u, pm.M.Memory.Read32(TssBase + 0x20));              // the faulting MOV DS
    }

    [Fact]
    public void JumpingToABusyTaskIsGp()
    {
        var pm = WithSecondTask([0xF4]);
        pm.Load(x => x.jmp(Tss, 0));                                       // the current task
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.GP));
        Assert.Equal((uint)Tss, pm.Stack32(0));
    }

    [Fact]
    public void ATaskGateAtALowerDplThanCplIsGp()
    {
        var r3 = new ProtectedModeMachine(ring3: true);
        r3.SetDescriptor(Tss2, SystemDescriptor(Tss2Base, 0x67, 0x89));
        r3.SetDescriptor(TaskGate, Gate(Tss2, 0, 0x85));
        r3.Load(x => x.call(TaskGate | 3, 0));
        r3.Run();
        Assert.True(r3.InHandler(CpuVectors.GP));
        Assert.Equal((uint)TaskGate, r3.Stack32(0));
    }

    [Fact]
    public void ABadSegmentInTheNewTaskIsTsInTheNewTasksContext()
    {
        var pm = WithSecondTask([0xF4]);
        pm.M.Memory.Write16(Tss2Base + 0x54, 0x10B);                       // DS beyond the GDT
        pm.Load(x => x.jmp(Tss2, 0));
        pm.Run();
        Assert.True(pm.InHandler(CpuVectors.TS));
        Assert.Equal(0x108u, pm.Stack32(0));
        Assert.Equal(Tss2, pm.Cpu.Tr.Selector);                            // the switch had happened
        Assert.Equal(Entry, pm.Stack32(4));
    }

    [Fact]
    public void A286TaskSwitchUsesThe16BitLayout()
    {
        var pm = new ProtectedModeMachine(CpuModel.I286);
        pm.SetDescriptor(Tss2, SystemDescriptor(Tss2Base, 0x2B, 0x81));
        var mem = pm.M.Memory;
        mem.Write16(Tss2Base + 0x0E, (ushort)Entry);
        mem.Write16(Tss2Base + 0x10, 0x0002);
        mem.Write16(Tss2Base + 0x1A, 0x7000);                              // SP
        mem.Write16(Tss2Base + 0x22, Flat0);
        mem.Write16(Tss2Base + 0x24, Code0);
        mem.Write16(Tss2Base + 0x26, Stack0);
        mem.Write16(Tss2Base + 0x28, Flat0);
        mem.Poke(CodeBase + Entry, [0xF4]);
        pm.Load(x => { x.mov(ax, 0x4321); x.call(Tss2, 0); });
        pm.Run();
        Assert.Equal(Tss2, pm.Cpu.Tr.Selector);
        Assert.Equal(0x7000u, pm.Cpu.Esp & 0xFFFF);
        Assert.Equal(8, mem.Read16(TssBase + 0x0E));                        // saved IP
        Assert.Equal(0x4321, mem.Read16(TssBase + 0x12));                   // saved AX
        Assert.Equal(Tss, mem.Read16(Tss2Base));
        Assert.Equal(0x83, Access(pm, Tss2));
    }

    [Fact]
    public void ATaskWithVmSetStartsInV86Mode()
    {
        var pm = WithSecondTask([]);
        var mem = pm.M.Memory;
        mem.Write32(Tss2Base + 0x24, Processor.FlagVM | 0x3002);          // VM, IOPL 3
        mem.Write32(Tss2Base + 0x20, 0x0100);                              // IP in segment 1000h
        mem.Write16(Tss2Base + 0x4C, 0x1000);                              // CS
        mem.Write16(Tss2Base + 0x50, 0x2000);                              // SS
        mem.Write16(Tss2Base + 0x54, 0x3000);                              // DS
        mem.Write32(Tss2Base + 4, 0x7000);                                 // the new task's SS0:ESP0 for the #GP
        mem.Write16(Tss2Base + 8, Stack0);
        mem.Poke(CodeBase + 0x100, [0x8C, 0xD8, 0xFA, 0xF4]);              // mov ax, ds; cli; hlt (#GP at CPL 3)
        pm.Load(x => x.jmp(Tss2, 0));
        pm.Run();
        Assert.Equal(0x3000, (int)pm.Cpu.Eax & 0xFFFF);
        Assert.True(pm.InHandler(CpuVectors.GP));                          // HLT in V86 mode
        Assert.Equal(0x103u, pm.Stack32(4));
        Assert.Equal(0x1000u, pm.Stack32(8));
        Assert.NotEqual(0u, pm.Stack32(12) & Processor.FlagVM);
        Assert.Equal(0x3000u, pm.Stack32(28));                             // DS in the V86 frame
        Assert.Equal(0x7000u - 40, pm.Cpu.Esp);
    }
}
