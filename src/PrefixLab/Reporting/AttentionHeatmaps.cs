using System.Globalization;
using System.Text;
using PrefixLab.Analysis;
using PrefixLab.Util;
using ScottPlot;
using SkiaSharp;

namespace PrefixLab.Reporting;

/// <summary>Draws attention maps as heatmaps (ScottPlot) and writes them as PNG or CSV.</summary>
public static class AttentionHeatmaps
{
    /// <summary>
    /// Draws <paramref name="maps"/> into one PNG, one panel per map: a row of panels per layer, one
    /// panel per head, queries down and keys across (first token top left), tokens on the axes, region
    /// borders (prefix, padding, input, output) as white lines. Written atomically.
    /// </summary>
    public static void SavePng(string path, IReadOnlyList<AttentionMap> maps, int panelSize = 480)
    {
        PrefixLabException.Check(maps.Count > 0, "no attention map to draw");
        var png = RenderPng(maps, panelSize);
        AtomicFile.Write(path, stream => stream.Write(png));
    }

    /// <summary>The PNG bytes of <see cref="SavePng"/>.</summary>
    public static byte[] RenderPng(IReadOnlyList<AttentionMap> maps, int panelSize = 480)
    {
        var layers = maps.Select(m => m.Layer).Distinct().Order().ToList();
        var heads = maps.Select(m => m.Head).Distinct().Order().ToList();
        var info = new SKImageInfo(panelSize * heads.Count, panelSize * layers.Count);
        using var surface = SKSurface.Create(info);
        surface.Canvas.Clear(SKColors.White);
        foreach (var map in maps)
        {
            int left = heads.IndexOf(map.Head) * panelSize, top = layers.IndexOf(map.Layer) * panelSize;
            // Each panel renders on its own surface (a plot clears the canvas it draws on), then is placed.
            using var panel = SKSurface.Create(new SKImageInfo(panelSize, panelSize));
            Panel(map).Render(panel.Canvas, panelSize, panelSize);
            using var snapshot = panel.Snapshot();
            surface.Canvas.DrawImage(snapshot, left, top);
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>
    /// Writes <paramref name="maps"/> as CSV, one line per query and key, atomically. Token labels that
    /// need it (GPT-2 token strings with commas, quotes, line breaks or edge spaces) are quoted as RFC 4180 says.
    /// </summary>
    public static void SaveCsv(string path, IReadOnlyList<AttentionMap> maps)
    {
        var text = new StringBuilder("layer,head,query,query_token,key,key_token,weight\n");
        foreach (var map in maps)
        {
            for (int q = 0; q < map.Weights.GetLength(0); q++)
            {
                for (int k = 0; k < map.Weights.GetLength(1); k++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{map.Layer},{map.Head},{q},{Field(map.QueryLabels[q])},{k},{Field(map.KeyLabels[k])},{map.Weights[q, k]:R}\n");
                }
            }
        }
        AtomicFile.WriteText(path, text.ToString());
    }

    private static Plot Panel(AttentionMap map)
    {
        int rows = map.Weights.GetLength(0), columns = map.Weights.GetLength(1);
        // ScottPlot 5.1 draws data row 0 at the top, as an attention map reads, so row r sits at y = rows − 1 − r.
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(map.Weights);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        plot.Add.ColorBar(heatmap);
        foreach (int c in map.KeyBoundaries)
        {
            plot.Add.VerticalLine(c - 0.5, 1.5f, Colors.White);
        }
        foreach (int r in map.QueryBoundaries)
        {
            plot.Add.HorizontalLine(rows - r - 0.5, 1.5f, Colors.White);
        }
        plot.Axes.Bottom.TickGenerator = Ticks(Enumerable.Range(0, columns).Select(c => ((double)c, Visible(map.KeyLabels[c]))));
        plot.Axes.Left.TickGenerator = Ticks(Enumerable.Range(0, rows).Select(r => ((double)(rows - 1 - r), Visible(map.QueryLabels[r]))));
        plot.Axes.Bottom.TickLabelStyle.FontSize = 10;
        plot.Axes.Left.TickLabelStyle.FontSize = 10;
        plot.Axes.SetLimits(-0.5, columns - 0.5, -0.5, rows - 0.5);
        plot.Title($"layer {map.Layer}, head {map.Head}");
        plot.XLabel("key (regions: prefix | input | output)");
        plot.YLabel("query");
        return plot;
    }

    private static string Field(string label) =>
        label.IndexOfAny([',', '"', '\n', '\r']) >= 0 || label.Trim().Length != label.Length ? $"\"{label.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : label;

    /// <summary>A tick label with its whitespace made visible: GPT-2 tokens mostly start with a space.</summary>
    private static string Visible(string label) =>
        label.Replace(" ", "\u00b7", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);

    private static ScottPlot.TickGenerators.NumericManual Ticks(IEnumerable<(double Position, string Label)> ticks)
    {
        var generator = new ScottPlot.TickGenerators.NumericManual();
        foreach (var (position, label) in ticks)
        {
            generator.AddMajor(position, label);
        }
        return generator;
    }
}
