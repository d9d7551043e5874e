using PrefixLab.Experiments;
using PrefixLab.Reporting;

namespace PrefixLab.Tests.Reporting;

/// <summary>The HTML report is the report's Markdown as a Markdown renderer shows it.</summary>
public class ReportHtmlTests
{
    private static Reproduction Empty() =>
        new(Profiles.Get("smoke"), 1, "prefixlab reproduce", new DateTime(2025, 1, 2, 3, 4, 0, DateTimeKind.Utc), 1, "test machine", [], []);

    [Fact]
    public void The_titles_italics_render_as_emphasis()
    {
        var blocks = ReproductionReport.Build(Empty());
        string markdown = ReportRenderer.Markdown(blocks);
        string html = ReportRenderer.Html("title", blocks);
        Assert.StartsWith("# PrefixLab: reproducing *When Do Prompting and Prefix-Tuning Work?*", markdown, StringComparison.Ordinal);
        Assert.Contains("<h1>PrefixLab: reproducing <em>When Do Prompting and Prefix-Tuning Work?</em></h1>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("*When Do", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Tables_code_and_bold_render_and_raw_html_is_shown_as_text()
    {
        ReportBlock[] blocks =
        [
            new Paragraph("Run `prefixlab reproduce` with **care** <script>alert(1)</script>"),
            new Table(["name", "value"], [["a|b", "`x`"]]),
        ];
        string html = ReportRenderer.Html("t", blocks);
        Assert.Contains("<code>prefixlab reproduce</code>", html, StringComparison.Ordinal);
        Assert.Contains("<strong>care</strong>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.Contains("<td>a|b</td>", html, StringComparison.Ordinal); // the escaped pipe stays inside its cell
        Assert.Contains("<th>value</th>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Figures_are_inline_pngs_in_the_page_and_links_in_the_markdown()
    {
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3];
        ReportBlock[] blocks = [new Figure("f.png", "a *figure*", png)];
        string html = ReportRenderer.Html("t", blocks);
        Assert.Contains($"src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("figures/f.png", html, StringComparison.Ordinal);
        Assert.Contains("](figures/f.png)", ReportRenderer.Markdown(blocks), StringComparison.Ordinal);
    }
}
