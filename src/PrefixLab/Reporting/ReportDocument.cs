using System.Net;
using System.Text;
using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace PrefixLab.Reporting;

/// <summary>A part of a report; its text is Markdown, and the HTML page is rendered from that Markdown.</summary>
public abstract record ReportBlock;

/// <summary>A heading of level 1 to 3.</summary>
/// <param name="Level">1 to 3.</param>
/// <param name="Text">Its text.</param>
public sealed record Heading(int Level, string Text) : ReportBlock;

/// <summary>A paragraph of Markdown text (inline spans such as <c>`code`</c>, <c>**bold**</c> and <c>*italics*</c>).</summary>
/// <param name="Text">Its text.</param>
public sealed record Paragraph(string Text) : ReportBlock;

/// <summary>A bulleted list.</summary>
/// <param name="Items">Its items.</param>
public sealed record BulletList(IReadOnlyList<string> Items) : ReportBlock;

/// <summary>A table with a header row.</summary>
/// <param name="Header">Column titles.</param>
/// <param name="Rows">Cells, row by row.</param>
public sealed record Table(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows) : ReportBlock;

/// <summary>A PNG figure: a file beside report.md, embedded in the HTML.</summary>
/// <param name="FileName">Its file name under <c>figures/</c>.</param>
/// <param name="Caption">What it shows.</param>
/// <param name="Png">The image.</param>
public sealed record Figure(string FileName, string Caption, byte[] Png) : ReportBlock;

/// <summary>Writes report blocks as Markdown, and that Markdown as one self-contained HTML page (no scripts, images inline).</summary>
public static class ReportRenderer
{
    /// <summary>
    /// The Markdown the report uses: pipe tables; raw HTML is shown as text, so nothing in a message or a
    /// spec's notes can add markup or a script to the page.
    /// </summary>
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UsePipeTables().DisableHtml().Build();

    /// <summary>The blocks as Markdown; figures are linked as <c>figures/NAME</c>.</summary>
    public static string Markdown(IEnumerable<ReportBlock> blocks)
    {
        var text = new StringBuilder();
        foreach (var block in blocks)
        {
            switch (block)
            {
                case Heading h:
                    text.Append('#', h.Level).Append(' ').AppendLine(h.Text).AppendLine();
                    break;
                case Paragraph p:
                    text.AppendLine(p.Text).AppendLine();
                    break;
                case BulletList l:
                    foreach (var item in l.Items)
                    {
                        text.Append("- ").AppendLine(item);
                    }
                    text.AppendLine();
                    break;
                case Table t:
                    text.AppendLine($"| {string.Join(" | ", t.Header.Select(Cell))} |");
                    text.AppendLine($"|{string.Concat(t.Header.Select(_ => "---|"))}");
                    foreach (var row in t.Rows)
                    {
                        text.AppendLine($"| {string.Join(" | ", row.Select(Cell))} |");
                    }
                    text.AppendLine();
                    break;
                case Figure f:
                    text.AppendLine($"![{f.Caption}]({FigureLink(f)})").AppendLine().AppendLine($"*{f.Caption}*").AppendLine();
                    break;
                default:
                    break;
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// The blocks as one HTML page titled <paramref name="title"/>: their Markdown rendered by Markdig, so the
    /// page says what report.md says, with each figure's link replaced by its PNG as a data URI.
    /// </summary>
    public static string Html(string title, IEnumerable<ReportBlock> blocks)
    {
        var list = blocks.ToList();
        var figures = list.OfType<Figure>().ToDictionary(f => FigureLink(f), f => $"data:image/png;base64,{Convert.ToBase64String(f.Png)}");
        var document = Markdig.Markdown.Parse(Markdown(list), Pipeline);
        foreach (var image in document.Descendants<LinkInline>().Where(l => l.IsImage))
        {
            if (image.Url is { } url && figures.TryGetValue(url, out var inline))
            {
                image.Url = inline;
            }
        }
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html>").AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.AppendLine($"<title>{WebUtility.HtmlEncode(title)}</title>");
        html.AppendLine("<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
            + "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;vertical-align:top}"
            + "th{background:#f3f3f3}code{background:#f5f5f5;padding:0 .2rem}img{max-width:100%}</style>");
        html.AppendLine("</head><body>");
        html.Append(Markdig.Markdown.ToHtml(document, Pipeline));
        html.AppendLine("</body></html>");
        return html.ToString();
    }

    private static string FigureLink(Figure f) => $"figures/{f.FileName}";

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
