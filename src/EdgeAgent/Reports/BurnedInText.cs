namespace EdgeMed.EdgeAgent.Reports;

/// <summary>
/// Draws short upper-case text into an RGB image with a 5 × 7 pixel font, for the line a Secondary Capture carries
/// burned in (class, probability, "not for diagnosis"): a viewer shows pixels, not our tags. No font library on the
/// device; characters without a glyph are drawn as '?'.
/// </summary>
internal static class BurnedInText
{
    private const int Width = 5;
    private const int Height = 7;

    // Rows top to bottom, '#' lit.
    private static readonly Dictionary<char, string> Glyphs = new()
    {
        ['A'] = ".###.#...##...#######...##...##...#", ['B'] = "####.#...##...#####.#...##...#####.",
        ['C'] = ".###.#...##....#....#....#...#.###.", ['D'] = "####.#...##...##...##...##...#####.",
        ['E'] = "######....#....####.#....#....#####", ['F'] = "######....#....####.#....#....#....",
        ['G'] = ".###.#...##....#.####...##...#.####", ['H'] = "#...##...##...#######...##...##...#",
        ['I'] = ".###...#....#....#....#....#...###.", ['J'] = "..###...#....#....#.#..#.#..#..##..",
        ['K'] = "#...##..#.#.#..##...#.#..#..#.#...#", ['L'] = "#....#....#....#....#....#....#####",
        ['M'] = "#...###.###.#.##...##...##...##...#", ['N'] = "#...###..##.#.##..###...##...##...#",
        ['O'] = ".###.#...##...##...##...##...#.###.", ['P'] = "####.#...##...#####.#....#....#....",
        ['Q'] = ".###.#...##...##...##.#.##..#..##.#", ['R'] = "####.#...##...#####.#.#..#..#.#...#",
        ['S'] = ".#####....#.....###.....#....#####.", ['T'] = "#####..#....#....#....#....#....#..",
        ['U'] = "#...##...##...##...##...##...#.###.", ['V'] = "#...##...##...##...##...#.#.#...#..",
        ['W'] = "#...##...##...##.#.##.#.##.#.#.#.#.", ['X'] = "#...##...#.#.#...#...#.#.#...##...#",
        ['Y'] = "#...##...#.#.#...#....#....#....#..", ['Z'] = "#####....#...#...#...#...#....#####",
        ['0'] = ".###.#...##..###.#.###..##...#.###.", ['1'] = "..#...##....#....#....#....#...###.",
        ['2'] = ".###.#...#....#...#...#...#...#####", ['3'] = "#####...#...#.....#.....##...#.###.",
        ['4'] = "...#...##..#.#.#..######...#....#..", ['5'] = "######....####.....#....##...#.###.",
        ['6'] = "..##..#...#....####.#...##...#.###.", ['7'] = "#####....#...#...#...#....#....#...",
        ['8'] = ".###.#...##...#.###.#...##...#.###.", ['9'] = ".###.#...##...#.####....#...#..##..",
        [' '] = "...................................", ['.'] = "..........................##...##..",
        ['='] = "..........#####.....#####..........", [':'] = "......##...##........##...##.......",
        ['-'] = "...............#####...............", ['('] = "...#...#...#....#....#.....#.....#.",
        [')'] = ".#.....#.....#....#....#...#...#...", ['%'] = "##...##..#...#...#...#...#..##...##",
        ['/'] = ".........#...#...#...#...#.........", ['?'] = ".###.#...#....#...#...#.......#....",
    };

    /// <summary>The width in pixels of <paramref name="text"/> at <paramref name="scale"/> (one pixel column between characters).</summary>
    public static int Measure(string text, int scale) => text.Length * (Width + 1) * scale;

    /// <summary>Draws <paramref name="text"/> (upper-cased) in white with its top left corner at (x, y), clipped to the image.</summary>
    public static void Draw(Span<byte> rgb, int imageWidth, int imageHeight, int x, int y, string text, int scale)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var ch in text.ToUpperInvariant())
        {
            var glyph = Glyphs.GetValueOrDefault(ch) ?? Glyphs['?'];
            for (var row = 0; row < Height; row++)
            {
                for (var column = 0; column < Width; column++)
                {
                    if (glyph[(row * Width) + column] != '#')
                    {
                        continue;
                    }

                    for (var dy = 0; dy < scale; dy++)
                    {
                        for (var dx = 0; dx < scale; dx++)
                        {
                            var (px, py) = (x + (column * scale) + dx, y + (row * scale) + dy);
                            if (px >= 0 && px < imageWidth && py >= 0 && py < imageHeight)
                            {
                                rgb.Slice(((py * imageWidth) + px) * 3, 3).Fill(255);
                            }
                        }
                    }
                }
            }

            x += (Width + 1) * scale;
        }
    }
}
