using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using JitVm.Core;

namespace JitVm.Cpu;

/// <summary>What a translation is for: it decides the access-rights check and which flags the walk sets.</summary>
internal enum PageAccess : byte
{
    Read,
    Write,
    /// <summary>Checks that a write is allowed without setting the dirty flag (a probe, or the first page of a split store).</summary>
    WriteCheck,
}

/// <summary>
/// Paging (SDM vol. 3, chapter 4; 32-bit paging with optional 4 MiB pages and global pages) and the software TLB
/// that caches its results. There are two TLBs, one per privilege: explicit accesses use the one of the current
/// privilege (<see cref="UpdateMemoryPrivilege"/>), implicit supervisor accesses always the supervisor one, so a
/// CPL change only swaps a reference and cached permissions never have to be re-checked or flushed.
/// </summary>
public sealed partial class Processor
{
    // Paging-structure entry bits (SDM vol. 3, tables 4-5 and 4-6).
    public const uint PteP = 1, PteRW = 2, PteUS = 4, PtePWT = 8, PtePCD = 0x10, PteA = 0x20, PteD = 0x40, PtePS = 0x80, PteG = 0x100;

    // Page-fault error code bits (SDM vol. 3, 4.7). I/D (bit 4) is only defined with execute-disable, which no model has.
    public const uint PfPresent = 1, PfWrite = 2, PfUser = 4, PfReserved = 8;

    /// <summary>Flags in the low bits of <see cref="TlbEntry.Phys"/>: the translation is global (survives CR3 writes); it is part of a 4 MiB page.</summary>
    public const uint TlbGlobal = 1, TlbLarge = 2;

    /// <summary>
    /// Bits 21:13 of a PDE that maps a 4 MiB page: bits 39:32 of the page address with PSE-36, reserved without
    /// it. The P6 family checks them (#PF with RSVD); the Pentium predates the RSVD error bit and ignores them.
    /// </summary>
    const uint LargePageReservedBits = 0x003FE000;

    readonly TlbEntry[] supervisorTlb = new TlbEntry[TlbSize];
    readonly TlbEntry[] userTlb = new TlbEntry[TlbSize];

    /// <summary>The TLB of the current privilege: what explicit accesses and instruction fetches use.</summary>
    TlbEntry[] tlb;

    /// <summary>Explicit accesses are user-mode accesses (CPL 3); <see cref="tlb"/> is <see cref="userTlb"/>.</summary>
    bool userAccesses;

    /// <summary>Some entry caches part of a 4 MiB page, so INVLPG must drop more than one slot.</summary>
    bool largeEntries;

    /// <summary>The TLB explicit accesses use now (the translator's inline fast path loads it).</summary>
    public TlbEntry[] Tlb => tlb;
    public TlbEntry[] SupervisorTlb => supervisorTlb;
    public TlbEntry[] UserTlb => userTlb;

    /// <summary>Explicit memory accesses are made with user-mode rights (CPL 3).</summary>
    public bool UserAccesses => userAccesses;

    public bool PagingEnabled => (Cr0 & Cr0PG) != 0;

    /// <summary>
    /// Selects the TLB of the current privilege level. Call after anything that changes CPL: a CS load, a change
    /// of EFLAGS.VM or CR0.PE. The dispatcher also re-checks it before every block, so a missed call can only make
    /// the accesses of the instruction that changed CPL use the previous privilege.
    /// </summary>
    public void UpdateMemoryPrivilege()
    {
        bool user = Cpl == 3;
        userAccesses = user;
        tlb = user ? userTlb : supervisorTlb;
    }

    // ---------------- translation ----------------

    /// <summary>Linear to physical for a data access at the current privilege (fills the TLB, raises #PF).</summary>
    public uint TranslateData(uint lin, bool write) => Translate(lin, write ? PageAccess.Write : PageAccess.Read, userAccesses);

    /// <summary>Linear to physical for an instruction fetch at the current privilege; raises #PF (CR2 = <paramref name="lin"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint TranslateFetch(uint lin)
    {
        if ((Cr0 & Cr0PG) == 0) return lin & PhysicalAddressMask;
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == (lin & ~PhysicalMemory.PageMask)) return (e.Phys & ~PhysicalMemory.PageMask) | (lin & PhysicalMemory.PageMask);
        return Translate(lin, PageAccess.Read, userAccesses);
    }

    /// <summary>
    /// An instruction-fetch translation that reports failure instead of raising it (CR2 is left alone): the decoder
    /// reads ahead of execution, and the dispatcher re-validates the second page of a straddling block.
    /// </summary>
    public bool TryTranslateFetch(uint lin, out uint phys, out uint errorCode)
    {
        errorCode = 0;
        if ((Cr0 & Cr0PG) == 0)
        {
            phys = lin & PhysicalAddressMask;
            return true;
        }
        ref TlbEntry e = ref TlbFor(lin);
        if (e.ReadTag == (lin & ~PhysicalMemory.PageMask))
        {
            phys = (e.Phys & ~PhysicalMemory.PageMask) | (lin & PhysicalMemory.PageMask);
            return true;
        }
        if (!Walk(lin, PageAccess.Read, userAccesses, out phys, out errorCode, out bool writable, out uint flags)) return false;
        Fill(tlb, lin, phys, writable, flags);
        return true;
    }

    /// <summary>Raises #PF for <paramref name="lin"/>: CR2 holds the faulting linear address.</summary>
    [DoesNotReturn]
    public void PageFault(uint lin, uint errorCode)
    {
        Cr2 = lin;
        throw PrepareFault(CpuVectors.PF, errorCode, true);
    }

    /// <summary>
    /// Translates <paramref name="lin"/> for an access with user (CPL 3) or supervisor rights, raising #PF when
    /// paging refuses it, and caches the result in that privilege's TLB.
    /// </summary>
    uint Translate(uint lin, PageAccess access, bool user)
    {
        uint phys, flags = 0;
        bool writable = true;
        if ((Cr0 & Cr0PG) == 0) phys = lin & PhysicalAddressMask;
        else if (!Walk(lin, access, user, out phys, out uint error, out writable, out flags)) PageFault(lin, error);
        Fill(user ? userTlb : supervisorTlb, lin, phys, writable, flags);
        return phys;
    }

    /// <summary>
    /// Caches a translation. Only mapped pages get entries, and no page a data breakpoint watches; only RAM pages
    /// without decoded code get write entries.
    /// </summary>
    void Fill(TlbEntry[] table, uint lin, uint phys, bool writable, uint flags)
    {
        int host = Memory.HostOffset(phys);
        if (host < 0 || (dataBreakpoints != 0 && WatchedPage(lin))) return;
        ref TlbEntry e = ref EntryIn(table, lin);
        uint page = lin & ~PhysicalMemory.PageMask;
        e.ReadTag = page;
        e.WriteTag = writable && Memory.IsDirectlyWritable(phys) ? page : InvalidTag;
        e.Addend = unchecked(host - (int)page);
        e.Phys = (phys & ~PhysicalMemory.PageMask) | flags;
        if ((flags & TlbLarge) != 0) largeEntries = true;
    }

    /// <summary>
    /// The page walk (SDM vol. 3, 4.3 for 32-bit paging; a PAE walker would be chosen here by CR4.PAE). Returns
    /// the physical address, whether a later write may bypass the walk (allowed and the dirty flag already set),
    /// and the TLB flags; or false with the #PF error code. Paging-structure entries are read and updated with
    /// physical accesses.
    /// </summary>
    /// <remarks>
    /// Access rights combine both levels (4.6): a user access needs U/S = 1 in the PDE and the PTE, a user write
    /// also R/W = 1 in both; a supervisor write needs R/W = 1 in both only when CR0.WP = 1 (the 386 has no WP). Accessed flags are set on the entries a successful translation uses; a PDE that
    /// located a page table is marked accessed even when the PTE then faults (the SDM's #PF description: "the
    /// access flag in the page-directory entry is set when the fault occurs"). The dirty flag is set in the entry
    /// that maps the page (PTE, or PDE of a 4 MiB page) on a write.
    /// </remarks>
    bool Walk(uint lin, PageAccess access, bool user, out uint phys, out uint errorCode, out bool writable, out uint tlbFlags)
    {
        bool write = access != PageAccess.Read;
        uint error = (write ? PfWrite : 0) | (user ? PfUser : 0);
        uint mask = PhysicalAddressMask;
        phys = 0;
        writable = false;
        tlbFlags = 0;

        uint pdeAddr = ((Cr3 & ~PhysicalMemory.PageMask) | ((lin >> 20) & 0xFFC)) & mask;
        uint pde = Memory.Read32(pdeAddr);
        if ((pde & PteP) == 0)
        {
            errorCode = error;
            return false;
        }

        if ((pde & PtePS) != 0 && (Cr4 & Cr4PSE) != 0)
        {
            // A 4 MiB page: the PDE is the final entry.
            if ((pde & LargePageReservedBits) != 0 && Model.Generation >= CpuGeneration.P6)
            {
                errorCode = error | PfPresent | PfReserved;
                return false;
            }
            if (!Permits(pde, write, user))
            {
                errorCode = error | PfPresent;
                return false;
            }
            pde = MarkUsed(pdeAddr, pde, access == PageAccess.Write);
            phys = ((pde & 0xFFC00000) | (lin & 0x003FFFFF)) & mask;
            writable = (pde & PteD) != 0 && Permits(pde, true, user);
            tlbFlags = TlbLarge | ((pde & PteG) != 0 && (Cr4 & Cr4PGE) != 0 ? TlbGlobal : 0);
            errorCode = 0;
            return true;
        }

        pde = MarkUsed(pdeAddr, pde, false);
        uint pteAddr = ((pde & ~PhysicalMemory.PageMask) | ((lin >> 10) & 0xFFC)) & mask;
        uint pte = Memory.Read32(pteAddr);
        if ((pte & PteP) == 0)
        {
            errorCode = error;
            return false;
        }
        uint rights = pde & pte;
        if (!Permits(rights, write, user))
        {
            errorCode = error | PfPresent;
            return false;
        }
        pte = MarkUsed(pteAddr, pte, access == PageAccess.Write);
        phys = ((pte & ~PhysicalMemory.PageMask) | (lin & PhysicalMemory.PageMask)) & mask;
        writable = (pte & PteD) != 0 && Permits(rights, true, user);
        tlbFlags = (pte & PteG) != 0 && (Cr4 & Cr4PGE) != 0 ? TlbGlobal : 0;
        errorCode = 0;
        return true;
    }

    /// <summary>Whether the combined U/S and R/W bits of <paramref name="rights"/> allow the access (SDM vol. 3, 4.6).</summary>
    bool Permits(uint rights, bool write, bool user)
    {
        if (user) return (rights & PteUS) != 0 && (!write || (rights & PteRW) != 0);
        // Supervisor writes ignore R/W unless CR0.WP = 1; the 386 has no WP (MOV CR0 cannot set it there, and it
        // is ignored should anything else put it in CR0).
        return !write || (rights & PteRW) != 0 || (Cr0 & Cr0WP) == 0 || Model.Generation < CpuGeneration.I486;
    }

    /// <summary>Sets the accessed flag (and the dirty flag for a write) in a paging-structure entry, writing only when one changes.</summary>
    uint MarkUsed(uint addr, uint entry, bool dirty)
    {
        uint set = dirty ? PteA | PteD : PteA;
        if ((entry & set) != set)
        {
            entry |= set;
            Memory.Write32(addr, entry);
        }
        return entry;
    }

    // ---------------- TLB maintenance ----------------

    /// <summary>Drops every cached translation, global ones included (CR0.PG/WP/PE, CR4.PGE/PSE/PAE changes, A20, memory map).</summary>
    /// <summary>
    /// Bumped whenever cached linear-to-physical translations are dropped (TLB flushes, INVLPG): anything that
    /// remembered a translation (the dispatcher's successor links) compares it before relying on it.
    /// </summary>
    public uint TlbGeneration;

    public void FlushTlb()
    {
        TlbGeneration++;
        Invalidate(supervisorTlb, false);
        Invalidate(userTlb, false);
        largeEntries = false;
    }

    /// <summary>Drops every cached translation except global ones (a CR3 write).</summary>
    public void FlushTlbNonGlobal()
    {
        TlbGeneration++;
        Invalidate(supervisorTlb, true);
        Invalidate(userTlb, true);
    }

    // Runs at every CR3 write (thousands of times while Linux patches its text through a temporary mm): compiled
    // optimized at once rather than left in tier-0 code while the runtime's tiering is held back by new methods.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Invalidate(TlbEntry[] table, bool keepGlobal)
    {
        for (int i = 0; i < table.Length; i++)
        {
            ref TlbEntry e = ref table[i];
            if (keepGlobal && (e.Phys & TlbGlobal) != 0) continue;
            e.ReadTag = InvalidTag;
            e.WriteTag = InvalidTag;
        }
    }

    /// <summary>INVLPG: drops the translation of the page holding <paramref name="lin"/>, global or not, at both privileges.</summary>
    public void InvalidatePage(uint lin)
    {
        TlbGeneration++;
        uint page = lin & ~PhysicalMemory.PageMask;
        foreach (var table in (ReadOnlySpan<TlbEntry[]>)[supervisorTlb, userTlb])
        {
            ref TlbEntry e = ref EntryIn(table, lin);
            if (e.ReadTag == page || e.WriteTag == page) e.ReadTag = e.WriteTag = InvalidTag;
            // A 4 MiB page is cached in 4 KiB pieces spread over the whole table; INVLPG drops all of them.
            if (!largeEntries) continue;
            for (int i = 0; i < table.Length; i++)
            {
                ref TlbEntry l = ref table[i];
                if ((l.Phys & TlbLarge) != 0 && (l.ReadTag & InvalidTag) == 0 && ((l.ReadTag ^ lin) & 0xFFC00000) == 0)
                    l.ReadTag = l.WriteTag = InvalidTag;
            }
        }
    }

    /// <summary>A physical page now holds decoded code: no TLB entry may write it directly any more (any alias, any privilege).</summary>
    void OnPageBecameCode(uint physPage)
    {
        foreach (var table in (ReadOnlySpan<TlbEntry[]>)[supervisorTlb, userTlb])
            for (int i = 0; i < table.Length; i++)
                if ((table[i].Phys >> PhysicalMemory.PageShift) == physPage) table[i].WriteTag = InvalidTag;
    }
}
