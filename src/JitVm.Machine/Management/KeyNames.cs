namespace JitVm.Machine.Management;

/// <summary>
/// QEMU's key names (the monitor's <c>sendkey</c> and QMP's <c>send-key</c> "qcode"s) as PS/2 scancode set 2 make
/// codes (an E0h prefix in the high byte).
/// </summary>
public static class KeyNames
{
    static readonly Dictionary<string, ushort> Codes = Build();

    static Dictionary<string, ushort> Build()
    {
        var d = new Dictionary<string, ushort>(StringComparer.OrdinalIgnoreCase)
        {
            ["shift"] = 0x12, ["shift_r"] = 0x59, ["alt"] = 0x11, ["alt_r"] = 0xE011, ["altgr"] = 0xE011,
            ["ctrl"] = 0x14, ["ctrl_r"] = 0xE014, ["meta_l"] = 0xE01F, ["meta_r"] = 0xE027, ["menu"] = 0xE02F,
            ["esc"] = 0x76, ["ret"] = 0x5A, ["kp_enter"] = 0xE05A, ["spc"] = 0x29, ["tab"] = 0x0D, ["backspace"] = 0x66,
            ["caps_lock"] = 0x58, ["num_lock"] = 0x77, ["scroll_lock"] = 0x7E,
            ["minus"] = 0x4E, ["equal"] = 0x55, ["bracket_left"] = 0x54, ["bracket_right"] = 0x5B, ["backslash"] = 0x5D,
            ["semicolon"] = 0x4C, ["apostrophe"] = 0x52, ["grave_accent"] = 0x0E, ["comma"] = 0x41, ["dot"] = 0x49,
            ["slash"] = 0x4A, ["less"] = 0x61, ["asterisk"] = 0x7C,
            ["up"] = 0xE075, ["down"] = 0xE072, ["left"] = 0xE06B, ["right"] = 0xE074,
            ["home"] = 0xE06C, ["end"] = 0xE069, ["pgup"] = 0xE07D, ["pgdn"] = 0xE07A, ["insert"] = 0xE070, ["delete"] = 0xE071,
            ["kp_divide"] = 0xE04A, ["kp_multiply"] = 0x7C, ["kp_subtract"] = 0x7B, ["kp_add"] = 0x79, ["kp_decimal"] = 0x71,
            ["kp_0"] = 0x70, ["kp_1"] = 0x69, ["kp_2"] = 0x72, ["kp_3"] = 0x7A, ["kp_4"] = 0x6B, ["kp_5"] = 0x73,
            ["kp_6"] = 0x74, ["kp_7"] = 0x6C, ["kp_8"] = 0x75, ["kp_9"] = 0x7D,
        };
        ReadOnlySpan<ushort> function = [0x05, 0x06, 0x04, 0x0C, 0x03, 0x0B, 0x83, 0x0A, 0x01, 0x09, 0x78, 0x07];
        for (int i = 0; i < 12; i++) d["f" + (i + 1)] = function[i];
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        ReadOnlySpan<ushort> letterCodes = [0x1C, 0x32, 0x21, 0x23, 0x24, 0x2B, 0x34, 0x33, 0x43, 0x3B, 0x42, 0x4B, 0x3A,
            0x31, 0x44, 0x4D, 0x15, 0x2D, 0x1B, 0x2C, 0x3C, 0x2A, 0x1D, 0x22, 0x35, 0x1A];
        for (int i = 0; i < 26; i++) d[letters[i].ToString()] = letterCodes[i];
        ReadOnlySpan<ushort> digitCodes = [0x45, 0x16, 0x1E, 0x26, 0x25, 0x2E, 0x36, 0x3D, 0x3E, 0x46];
        for (int i = 0; i < 10; i++) d[i.ToString()] = digitCodes[i];
        // Aliases QEMU's monitor accepts.
        d["control"] = d["ctrl"];
        d["delete"] = 0xE071;
        d["print"] = 0xE07C;
        d["sysrq"] = 0xE07C;
        return d;
    }

    /// <summary>The set-2 make code of a key name ("a", "ret", "ctrl", "f1", "kp_5"; case-insensitive).</summary>
    public static bool TryGet(string name, out ushort code) => Codes.TryGetValue(name, out code);

    /// <summary>
    /// Parses a monitor key combination ("ctrl-alt-delete", "shift-a"): the keys to press in order (and release in
    /// reverse). A numeric name (0x1c) is taken as a set-2 code. False, naming the bad key, for an unknown one.
    /// </summary>
    public static bool TryParseCombination(string combination, out ushort[] codes, out string? error)
    {
        error = null;
        var parts = combination.Split('-');
        codes = new ushort[parts.Length];
        if (combination.Length == 0 || parts.Length > 8)
        {
            error = $"invalid key combination '{combination}'";
            return false;
        }
        for (int i = 0; i < parts.Length; i++)
        {
            string p = parts[i];
            if (TryGet(p, out codes[i])) continue;
            if (p.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
                ushort.TryParse(p.AsSpan(2), System.Globalization.NumberStyles.HexNumber, null, out codes[i]) && codes[i] != 0) continue;
            error = $"unknown key '{p}'";
            return false;
        }
        return true;
    }

    /// <summary>All key names, sorted (for help text).</summary>
    public static IEnumerable<string> All => Codes.Keys.Order(StringComparer.Ordinal);
}
