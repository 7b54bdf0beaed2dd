using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace JitVm.TestRoms;

/// <summary>
/// Shared page-table layout of the paging ROMs, on top of the protected-mode layout. The page directory is at
/// <see cref="PageDirectory"/>; its first entry points to <see cref="IdentityTable"/>, which maps the first 4 MiB
/// one-to-one (supervisor, read/write), so everything of the protected-mode layout and the ROM keep their
/// addresses. The second page table, <see cref="TestTable"/>, serves linear 800000h-BFFFFFh (directory entry 2),
/// where the ROMs map their test pages.
/// </summary>
public abstract class PagingRom : ProtectedModeRom
{
    public const uint PageDirectory = 0x20000, IdentityTable = 0x21000, TestTable = 0x22000;
    /// <summary>Linear base of the region <see cref="TestTable"/> maps.</summary>
    public const uint TestRegion = 0x800000;
    public const uint P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80;

    /// <summary>Address of the PTE in <see cref="TestTable"/> for a linear address in the test region.</summary>
    public static uint Pte(uint lin) => TestTable + ((lin >> 12) & 0x3FF) * 4;

    /// <summary>Builds the directory and both tables (with paging still off), then sets CR3 and CR0.PG.</summary>
    protected static void EnablePaging(Assembler m)
    {
        m.cld();
        m.xor(eax, eax);
        m.mov(edi, PageDirectory);
        m.mov(ecx, 3 * 0x400);
        m.rep.stosd();
        var fill = m.CreateLabel();
        m.mov(edi, IdentityTable);
        m.mov(eax, P | RW);
        m.mov(ecx, 1024);
        m.Label(ref fill);
        m.stosd();
        m.add(eax, 0x1000);
        m.loop(fill);
        m.mov(__dword_ptr[PageDirectory], IdentityTable | P | RW);
        m.mov(__dword_ptr[PageDirectory + (TestRegion >> 22) * 4], TestTable | P | RW);
        m.mov(eax, PageDirectory);
        m.mov(cr3, eax);
        m.mov(eax, cr0);
        m.or(eax, 0x80000000);
        m.mov(cr0, eax);
    }

    /// <summary>Maps the test-region page at <paramref name="lin"/> to <paramref name="frame"/> with <paramref name="flags"/>, and drops its old translation.</summary>
    protected static void Map(Assembler m, uint lin, uint frame, uint flags)
    {
        m.mov(__dword_ptr[Pte(lin)], frame | flags);
        m.invlpg(__byte_ptr[lin]);
    }
}
