using System.Net;
using System.Text;

namespace PrefixLab.Reporting;

/// <summary>A part of a report, rendered the same way to Markdown and to HTML.</summary>
public abstract record ReportBlock;

/// <summary>A heading of level 1 to 3.</summary>
/// <param name="Level">1 to 3.</param>
/// <param name="Text">Its text.</param>
public sealed record Heading(int Level, string Text) : ReportBlock;

/// <summary>A paragraph of plain text (<c>`code`</c> spans are kept as code).</summary>
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

/// <summary>Renders report blocks as Markdown or as one self-contained HTML page (no scripts, images inline).</summary>
public static class ReportRenderer
{
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
                    text.AppendLine($"![{f.Caption}](figures/{f.FileName})").AppendLine().AppendLine($"*{f.Caption}*").AppendLine();
                    break;
                default:
                    break;
            }
        }
        return text.ToString();
    }

    /// <summary>The blocks as one HTML page titled <paramref name="title"/>, figures as data URIs.</summary>
    public static string Html(string title, IEnumerable<ReportBlock> blocks)
    {
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html>").AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.AppendLine($"<title>{Encode(title)}</title>");
        html.AppendLine("<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
            + "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;vertical-align:top}"
            + "th{background:#f3f3f3}code{background:#f5f5f5;padding:0 .2rem}figure{margin:1rem 0}img{max-width:100%}figcaption{font-style:italic}</style>");
        html.AppendLine("</head><body>");
        foreach (var block in blocks)
        {
            switch (block)
            {
                case Heading h:
                    html.AppendLine($"<h{h.Level}>{Inline(h.Text)}</h{h.Level}>");
                    break;
                case Paragraph p:
                    html.AppendLine($"<p>{Inline(p.Text)}</p>");
                    break;
                case BulletList l:
                    html.AppendLine($"<ul>{string.Concat(l.Items.Select(i => $"<li>{Inline(i)}</li>"))}</ul>");
                    break;
                case Table t:
                    html.Append("<table><thead><tr>").Append(string.Concat(t.Header.Select(c => $"<th>{Inline(c)}</th>"))).AppendLine("</tr></thead><tbody>");
                    foreach (var row in t.Rows)
                    {
                        html.Append("<tr>").Append(string.Concat(row.Select(c => $"<td>{Inline(c)}</td>"))).AppendLine("</tr>");
                    }
                    html.AppendLine("</tbody></table>");
                    break;
                case Figure f:
                    html.AppendLine($"<figure><img alt=\"{Encode(f.Caption)}\" src=\"data:image/png;base64,{Convert.ToBase64String(f.Png)}\"><figcaption>{Inline(f.Caption)}</figcaption></figure>");
                    break;
                default:
                    break;
            }
        }
        html.AppendLine("</body></html>");
        return html.ToString();
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    /// <summary>HTML-encodes <paramref name="text"/>, turning <c>`code`</c> and <c>**bold**</c> spans into tags.</summary>
    private static string Inline(string text)
    {
        var parts = text.Split('`');
        var result = new StringBuilder();
        for (int i = 0; i < parts.Length; i++)
        {
            string encoded = Encode(parts[i]);
            if (i % 2 == 1)
            {
                result.Append("<code>").Append(encoded).Append("</code>");
                continue;
            }
            var bold = encoded.Split("**");
            for (int j = 0; j < bold.Length; j++)
            {
                result.Append(j % 2 == 1 ? $"<strong>{bold[j]}</strong>" : bold[j]);
            }
        }
        return result.ToString();
    }
}
