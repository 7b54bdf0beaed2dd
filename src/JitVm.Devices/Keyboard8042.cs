using JitVm.Core;

namespace JitVm.Devices;

/// <summary>
/// The PC/AT 8042 keyboard controller (data port 0x60, status/command port 0x64) with a PS/2 keyboard on its
/// keyboard port and a minimal PS/2 mouse on its auxiliary port, as PC/AT-compatible BIOSes and Linux's i8042
/// driver program it.
/// <para>
/// Commands finish at once, so the input buffer is never full (status bit 1 is always 0). The output buffer
/// shows one byte; the controller's own replies wait in an internal queue and the two devices keep their data
/// until the controller takes it, which it does when the output buffer is empty and that device's interface is
/// enabled (command byte bits 4/5 clear; a disabled interface holds the clock line low, so the device buffers).
/// IRQ 1 follows the output buffer: it is high while the buffer holds keyboard-side data and command byte
/// bit 0 is set, and drops when the guest reads port 0x60, so every byte is a rising edge; IRQ 12 likewise for
/// auxiliary data with bit 1.
/// </para>
/// <para>
/// Not thread-safe: host input (<see cref="Ps2Keyboard.SendMake"/>, <see cref="Ps2Mouse.SendMovement"/>) must
/// be delivered on the machine's thread, between CPU slices, like port accesses.
/// </para>
/// </summary>
public sealed class Keyboard8042 : IIoDevice
{
    /// <summary>Output buffer (read) and data to the keyboard or to a command's parameter (write).</summary>
    public const ushort DataPort = 0x60;
    /// <summary>Status register (read) and controller command (write).</summary>
    public const ushort CommandPort = 0x64;
    /// <summary>The keyboard's ISA interrupt line.</summary>
    public const int KeyboardIrq = 1;
    /// <summary>The auxiliary (mouse) port's ISA interrupt line.</summary>
    public const int AuxIrq = 12;

    /// <summary>
    /// The command byte after <see cref="Reset"/>: translate, system flag, keyboard interrupt on, both interfaces
    /// enabled — the value the IBM AT POST writes, so a guest started without firmware (a Multiboot kernel)
    /// finds a working, interrupting keyboard. Firmware reprograms it anyway.
    /// </summary>
    public const byte DefaultCommandByte = CcbKeyboardInt | CcbSystemFlag | CcbTranslate;

    internal const byte CcbKeyboardInt = 0x01, CcbAuxInt = 0x02, CcbSystemFlag = 0x04,
        CcbKeyboardDisable = 0x10, CcbAuxDisable = 0x20, CcbTranslate = 0x40;

    const byte StatusOutputFull = 0x01, StatusSystemFlag = 0x04, StatusCommand = 0x08,
        StatusNotInhibited = 0x10, StatusAuxData = 0x20;

    /// <summary>
    /// Input port P1 as read by command 0xC0: bit 7 keyboard not locked, bit 6 clear (colour display), bit 5
    /// manufacturing jumper not installed, bit 4 clear (512 KiB on the system board); bits 0–3 unused on ISA.
    /// </summary>
    const byte InputPort = 0xA0;

    /// <summary>
    /// Output port P2 lines other than A20, the reset line and the OBF bits: keyboard data/clock (bits 7/6) and
    /// auxiliary clock/data (bits 3/2) idle high.
    /// </summary>
    const byte OutputPortIdleLines = 0xCC;

    readonly IIrqLines irq;
    readonly Action<bool> setA20;
    readonly Func<bool> getA20;
    readonly Action requestReset;

    /// <summary>The controller's 32 bytes of RAM reachable by commands 0x20–0x3F/0x60–0x7F; byte 0 is the command byte.</summary>
    readonly byte[] ram = new byte[32];
    readonly Queue<(byte Value, bool Aux)> replies = new();
    (byte Value, bool Aux)? displaced;
    byte outputBuffer;
    bool outputFull, outputAux, outputIsReply, lastWriteWasCommand, translateBreakPending;
    byte pendingCommand;                  // a command waiting for its parameter on port 0x60; 0 when none
    bool irq1Level, irq12Level;

    /// <param name="irq">The ISA interrupt lines (IRQ 1 and IRQ 12 are driven).</param>
    /// <param name="setA20">Drives the A20 gate (output port bit 1, commands 0xDD/0xDF).</param>
    /// <param name="getA20">Reads the A20 gate back for command 0xD0.</param>
    /// <param name="requestReset">Pulses the CPU reset line (output port bit 0 low: commands 0xD1, 0xF0–0xFE).</param>
    /// <param name="clock">Drives the keyboard's typematic repeat (null: no repeat).</param>
    public Keyboard8042(IIrqLines irq, Action<bool> setA20, Func<bool> getA20, Action requestReset, VirtualClock? clock = null)
    {
        this.irq = irq;
        this.setA20 = setA20;
        this.getA20 = getA20;
        this.requestReset = requestReset;
        Keyboard = new Ps2Keyboard(Refill, clock);
        Mouse = new Ps2Mouse(Refill);
        Reset();
    }

    /// <summary>The keyboard on the keyboard port; the host sends key events through it.</summary>
    public Ps2Keyboard Keyboard { get; }

    /// <summary>The mouse on the auxiliary port.</summary>
    public Ps2Mouse Mouse { get; }

    /// <summary>The command byte (controller RAM byte 0).</summary>
    public byte CommandByte => ram[0];

    byte Ccb { get => ram[0]; set => ram[0] = value; }

    /// <summary>Registers ports 0x60 and 0x64.</summary>
    public void Attach(IoBus io)
    {
        io.Register(DataPort, 1, this);
        io.Register(CommandPort, 1, this);
    }

    /// <summary>
    /// Resets the controller and both devices: empty buffers, <see cref="DefaultCommandByte"/>, no parameter
    /// pending, interrupt lines low. The A20 gate is the machine's and is left as it is.
    /// </summary>
    public void Reset()
    {
        Array.Clear(ram);
        Ccb = DefaultCommandByte;
        replies.Clear();
        displaced = null;
        outputBuffer = 0;
        outputFull = outputAux = outputIsReply = lastWriteWasCommand = translateBreakPending = false;
        pendingCommand = 0;
        Keyboard.Reset();
        Mouse.Reset();
        UpdateIrqs();
    }

    public uint In(ushort port, int size)
    {
        if (port == CommandPort) return Status;
        byte value = outputBuffer;              // an empty buffer reads back its stale contents, as on the chip
        if (outputFull)
        {
            outputFull = false;
            UpdateIrqs();                        // drop the line before the next byte raises it: one edge per byte
            Refill();
        }
        return value;
    }

    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == CommandPort)
        {
            lastWriteWasCommand = true;
            pendingCommand = 0;                  // a new command abandons one still waiting for its parameter
            Command(v);
        }
        else
        {
            lastWriteWasCommand = false;
            Data(v);
        }
    }

    byte Status
    {
        get
        {
            int s = StatusNotInhibited;
            if (outputFull) s |= StatusOutputFull | (outputAux ? StatusAuxData : 0);
            if ((Ccb & CcbSystemFlag) != 0) s |= StatusSystemFlag;
            if (lastWriteWasCommand) s |= StatusCommand;
            return (byte)s;
        }
    }

    void Command(byte cmd)
    {
        switch (cmd)
        {
            case >= 0x20 and <= 0x3F: Reply(ram[cmd & 0x1F]); break;       // read command byte / RAM
            case >= 0x60 and <= 0x7F: pendingCommand = cmd; break;          // write command byte / RAM
            case 0xA7: Ccb |= CcbAuxDisable; break;
            case 0xA8: Ccb &= unchecked((byte)~CcbAuxDisable); Refill(); break;
            case 0xA9: Reply(0x00); break;                                 // auxiliary interface test: no error
            case 0xAA:                                                      // self test: passed, system flag set
                Ccb |= CcbSystemFlag;
                Reply(0x55);
                break;
            case 0xAB: Reply(0x00); break;                                 // keyboard interface test: no error
            case 0xAD: Ccb |= CcbKeyboardDisable; break;
            case 0xAE: Ccb &= unchecked((byte)~CcbKeyboardDisable); Refill(); break;
            case 0xC0: Reply(InputPort); break;
            case 0xD0: Reply(OutputPort); break;
            case 0xD1 or 0xD2 or 0xD3 or 0xD4: pendingCommand = cmd; break;
            case 0xDD: setA20(false); break;                               // HP Vectra extensions
            case 0xDF: setA20(true); break;
            case >= 0xF0:
                // Pulse the output port bits whose command bit is 0 low for ~6 µs; only bit 0 (CPU reset) acts.
                if ((cmd & 1) == 0) requestReset();
                break;
            default: break;                                                 // unsupported: ignored, as many chips do
        }
    }

    void Data(byte v)
    {
        byte cmd = pendingCommand;
        pendingCommand = 0;
        switch (cmd)
        {
            case >= 0x60 and <= 0x7F:
                ram[cmd & 0x1F] = v;
                if (cmd == 0x60)
                {
                    UpdateIrqs();                // enabling an interrupt with data waiting raises the line now
                    Refill();                    // a re-enabled interface may have data waiting
                }
                break;
            case 0xD1:
                setA20((v & 0x02) != 0);
                if ((v & 0x01) == 0) requestReset();   // reset line driven low resets the CPU
                break;
            case 0xD2: Reply(v); break;
            case 0xD3: Reply(v, aux: true); break;
            case 0xD4:
                // Transmitting needs the clock line, so sending to a device re-enables its interface.
                Ccb &= unchecked((byte)~CcbAuxDisable);
                Mouse.Receive(v);
                Refill();
                break;
            default:
                Ccb &= unchecked((byte)~CcbKeyboardDisable);
                Keyboard.Receive(v);
                Refill();
                break;
        }
    }

    /// <summary>Output port P2 for command 0xD0: reset line released, A20 gate, OBF for keyboard/aux data.</summary>
    byte OutputPort
    {
        get
        {
            int p = OutputPortIdleLines | 0x01 | (getA20() ? 0x02 : 0);
            if (outputFull) p |= outputAux ? 0x20 : 0x10;
            return (byte)p;
        }
    }

    /// <summary>
    /// Puts a controller reply into the output buffer. The chip simply overwrites the buffer; a device byte it
    /// would destroy is kept instead and delivered after the replies, so no keystroke is lost.
    /// </summary>
    void Reply(byte value, bool aux = false)
    {
        if (outputFull && !outputIsReply)
        {
            displaced = (outputBuffer, outputAux);      // device data only shows when no reply waits
            Load(value, aux, reply: true);
            return;
        }
        replies.Enqueue((value, aux));
        Refill();
    }

    /// <summary>Moves the next waiting byte into an empty output buffer: replies, a displaced byte, keyboard, mouse.</summary>
    void Refill()
    {
        if (outputFull) return;
        if (replies.Count > 0)
        {
            var r = replies.Dequeue();
            Load(r.Value, r.Aux, reply: true);
            return;
        }
        if (displaced is { } d)
        {
            displaced = null;
            Load(d.Value, d.Aux);
            return;
        }
        if ((Ccb & CcbKeyboardDisable) == 0)
        {
            while (Keyboard.HasData)
            {
                byte b = Keyboard.TakeByte();
                if ((Ccb & CcbTranslate) == 0)
                {
                    Load(b, aux: false);
                    return;
                }
                if (ScancodeTranslation.Translate(b, ref translateBreakPending) is { } x)
                {
                    Load(x, aux: false);
                    return;
                }
                // An F0 break prefix was absorbed: the translated byte is the next one, with bit 7 set.
            }
        }
        if ((Ccb & CcbAuxDisable) == 0 && Mouse.HasData)
            Load(Mouse.TakeByte(), aux: true);
    }

    void Load(byte value, bool aux, bool reply = false)
    {
        outputBuffer = value;
        outputAux = aux;
        outputIsReply = reply;
        outputFull = true;
        UpdateIrqs();
    }

    void UpdateIrqs()
    {
        bool kbd = outputFull && !outputAux && (Ccb & CcbKeyboardInt) != 0;
        bool aux = outputFull && outputAux && (Ccb & CcbAuxInt) != 0;
        if (kbd != irq1Level) irq.SetIrq(KeyboardIrq, irq1Level = kbd);
        if (aux != irq12Level) irq.SetIrq(AuxIrq, irq12Level = aux);
    }

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Writes section "KBC ": the controller's RAM (command byte), reply queue, output buffer, pending command and IRQ
    /// levels, then the keyboard's and the mouse's state. The A20 gate is the CPU's.
    /// </summary>
    public void SaveState(Core.State.StateWriter w)
    {
        w.BeginSection("KBC ", 1);
        w.WriteBytes(ram);
        w.WriteInt32(replies.Count);
        foreach (var (value, aux) in replies)
        {
            w.WriteByte(value);
            w.WriteBool(aux);
        }
        w.WriteBool(displaced is not null);
        w.WriteByte(displaced?.Value ?? 0);
        w.WriteBool(displaced?.Aux ?? false);
        w.WriteByte(outputBuffer);
        w.WriteBool(outputFull);
        w.WriteBool(outputAux);
        w.WriteBool(outputIsReply);
        w.WriteBool(lastWriteWasCommand);
        w.WriteBool(translateBreakPending);
        w.WriteByte(pendingCommand);
        w.WriteBool(irq1Level);
        w.WriteBool(irq12Level);
        Keyboard.SaveState(w);
        Mouse.SaveState(w);
        w.EndSection();
    }

    /// <summary>Reads what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(Core.State.StateReader r)
    {
        r.BeginSection("KBC ", 1);
        r.ReadBytes("ram", ram);
        int n = r.ReadInt32("reply count", 0, int.MaxValue);
        replies.Clear();
        for (int i = 0; i < n; i++) replies.Enqueue((r.ReadByte("reply"), r.ReadBool("reply from aux")));
        bool hasDisplaced = r.ReadBool("has displaced byte");
        (byte, bool) d = (r.ReadByte("displaced byte"), r.ReadBool("displaced from aux"));
        displaced = hasDisplaced ? d : null;
        outputBuffer = r.ReadByte("output buffer");
        outputFull = r.ReadBool("output full");
        outputAux = r.ReadBool("output aux");
        outputIsReply = r.ReadBool("output is reply");
        lastWriteWasCommand = r.ReadBool("last write was command");
        translateBreakPending = r.ReadBool("translate break pending");
        pendingCommand = r.ReadByte("pending command");
        irq1Level = r.ReadBool("irq 1 level");
        irq12Level = r.ReadBool("irq 12 level");
        Keyboard.LoadState(r);
        Mouse.LoadState(r);
        r.EndSection();
    }
}

/// <summary>
/// The 8042's scan code translation (command byte bit 6), which turns a scan code set 2 byte stream into set 1
/// (XT) codes. The PS/2 keyboard reuses it to produce set 1 itself when the guest selects that set.
/// </summary>
internal static class ScancodeTranslation
{
    /// <summary>Set 2 byte → set 1 byte. 0x00–0x7F is one-to-one (plus the overrun code 0x00 → 0xFF); from 0x80 up
    /// bytes pass unchanged except 0x83 (F7) and 0x84 (Alt+SysRq).</summary>
    static readonly byte[] table = Build();

    /// <summary>
    /// Feeds one set 2 byte. An 0xF0 break prefix yields nothing and sets bit 7 of the next translated byte
    /// (the chip's rule); everything else, E0/E1 prefixes and keyboard replies included, goes through the table.
    /// </summary>
    public static byte? Translate(byte b, ref bool breakPending)
    {
        if (b == 0xF0)
        {
            breakPending = true;
            return null;
        }
        byte x = table[b];
        if (breakPending)
        {
            breakPending = false;
            x |= 0x80;
        }
        return x;
    }

    static byte[] Build()
    {
        var t = new byte[256];
        for (int i = 0x80; i < 256; i++) t[i] = (byte)i;
        // (set 2, set 1) for each key position. E0-prefixed keys share their base byte's entry (right Ctrl
        // E0 14 → E0 1D, Up E0 75 → E0 48, the Windows keys E0 1F/27/2F → E0 5B/5C/5D, ...).
        ReadOnlySpan<(byte Set2, byte Set1)> keys =
        [
            // Esc and function keys F1–F12, F13–F24
            (0x76, 0x01), (0x05, 0x3B), (0x06, 0x3C), (0x04, 0x3D), (0x0C, 0x3E), (0x03, 0x3F), (0x0B, 0x40),
            (0x83, 0x41), (0x0A, 0x42), (0x01, 0x43), (0x09, 0x44), (0x78, 0x57), (0x07, 0x58),
            (0x08, 0x64), (0x10, 0x65), (0x18, 0x66), (0x20, 0x67), (0x28, 0x68), (0x30, 0x69),
            (0x38, 0x6A), (0x40, 0x6B), (0x48, 0x6C), (0x50, 0x6D), (0x57, 0x6E), (0x5F, 0x76),
            // ` 1 2 3 4 5 6 7 8 9 0 - = Backspace
            (0x0E, 0x29), (0x16, 0x02), (0x1E, 0x03), (0x26, 0x04), (0x25, 0x05), (0x2E, 0x06), (0x36, 0x07),
            (0x3D, 0x08), (0x3E, 0x09), (0x46, 0x0A), (0x45, 0x0B), (0x4E, 0x0C), (0x55, 0x0D), (0x66, 0x0E),
            // Tab Q W E R T Y U I O P [ ] Enter
            (0x0D, 0x0F), (0x15, 0x10), (0x1D, 0x11), (0x24, 0x12), (0x2D, 0x13), (0x2C, 0x14), (0x35, 0x15),
            (0x3C, 0x16), (0x43, 0x17), (0x44, 0x18), (0x4D, 0x19), (0x54, 0x1A), (0x5B, 0x1B), (0x5A, 0x1C),
            // Ctrl A S D F G H J K L ; ' CapsLock
            (0x14, 0x1D), (0x1C, 0x1E), (0x1B, 0x1F), (0x23, 0x20), (0x2B, 0x21), (0x34, 0x22), (0x33, 0x23),
            (0x3B, 0x24), (0x42, 0x25), (0x4B, 0x26), (0x4C, 0x27), (0x52, 0x28), (0x58, 0x3A),
            // LShift \ Z X C V B N M , . / RShift, Alt, Space, 102nd key (ISO \)
            (0x12, 0x2A), (0x5D, 0x2B), (0x1A, 0x2C), (0x22, 0x2D), (0x21, 0x2E), (0x2A, 0x2F), (0x32, 0x30),
            (0x31, 0x31), (0x3A, 0x32), (0x41, 0x33), (0x49, 0x34), (0x4A, 0x35), (0x59, 0x36), (0x11, 0x38),
            (0x29, 0x39), (0x61, 0x56),
            // Keypad: * NumLock ScrollLock 7 8 9 - 4 5 6 + 1 2 3 0 . (the cursor block is E0 + these)
            (0x7C, 0x37), (0x77, 0x45), (0x7E, 0x46), (0x6C, 0x47), (0x75, 0x48), (0x7D, 0x49), (0x7B, 0x4A),
            (0x6B, 0x4B), (0x73, 0x4C), (0x74, 0x4D), (0x79, 0x4E), (0x69, 0x4F), (0x72, 0x50), (0x7A, 0x51),
            (0x70, 0x52), (0x71, 0x53),
            // Alt+SysRq (0x84 and its alias 0x7F)
            (0x84, 0x54), (0x7F, 0x54),
            // Japanese/Brazilian keys: Katakana/Hiragana, Ro (ABNT /), Henkan, Muhenkan, Yen, keypad comma
            (0x13, 0x70), (0x51, 0x73), (0x64, 0x79), (0x67, 0x7B), (0x6A, 0x7D), (0x6D, 0x7E),
            // Base bytes of E0 keys: left/right Windows, Menu, Power, Sleep, Wake
            (0x1F, 0x5B), (0x27, 0x5C), (0x2F, 0x5D), (0x37, 0x5E), (0x3F, 0x5F), (0x5E, 0x63),
            // Positions with no key on 101–106-key boards, fixed by the controller's table; 0x00 is the overrun code
            (0x00, 0xFF), (0x02, 0x41), (0x0F, 0x59), (0x17, 0x5A), (0x19, 0x71), (0x39, 0x72), (0x47, 0x60),
            (0x4F, 0x61), (0x53, 0x74), (0x56, 0x62), (0x5C, 0x75), (0x60, 0x55), (0x62, 0x77), (0x63, 0x78),
            (0x65, 0x7A), (0x68, 0x7C), (0x6E, 0x7F), (0x6F, 0x6F),
        ];
        foreach (var (s2, s1) in keys) t[s2] = s1;
        return t;
    }
}
