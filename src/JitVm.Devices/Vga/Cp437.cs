namespace JitVm.Devices.Vga;

/// <summary>Code page 437 (the VGA's ROM font) to Unicode, with the graphic glyphs for 0x01–0x1F and 0x7F.</summary>
public static class Cp437
{
    // 0x00 is shown as a space (a cleared screen is often zero-filled); 0xFF is the no-break space.
    const string Table =
        " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼" +
        "►◄↕‼¶§▬↨↑↓→←∟↔▲▼" +
        " !\"#$%&'()*+,-./" +
        "0123456789:;<=>?" +
        "@ABCDEFGHIJKLMNO" +
        "PQRSTUVWXYZ[\\]^_" +
        "`abcdefghijklmno" +
        "pqrstuvwxyz{|}~⌂" +
        "ÇüéâäàåçêëèïîìÄÅ" +
        "ÉæÆôöòûùÿÖÜ¢£¥₧ƒ" +
        "áíóúñÑªº¿⌐¬½¼¡«»" +
        "░▒▓│┤╡╢╖╕╣║╗╝╜╛┐" +
        "└┴┬├─┼╞╟╚╔╩╦╠═╬╧" +
        "╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
        "αßΓπΣσµτΦΘΩδ∞φε∩" +
        "≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00A0";

    /// <summary>The Unicode character for CP437 code <paramref name="code"/>.</summary>
    public static char ToChar(byte code) => Table[code];
}
