using System.Diagnostics;
using PrefixLab.Experiments;
using PrefixLab.Reporting;

namespace PrefixLab.Tests.Experiments;

/// <summary>
/// The HTML report as a reader sees it: a real (smoke-sized) reproduction's report loaded in headless
/// Chromium by scripts/report-screenshot.sh, which fails on any console message. CI installs Debian's
/// chromium; without it the test is skipped.
/// </summary>
public class ReportBrowserTests
{
    [SkippableFact]
    public void The_html_report_loads_in_headless_chromium_without_console_errors()
    {
        Skip.If(FindOnPath("chromium") is null, "chromium is not installed (apt-get install chromium)");
        string dir = TestModels.TempDirectory();
        var specs = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory()).Where(s => s.Name == "nb01").ToList();
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(Path.Combine(dir, "cache")), Profiles.Get("smoke"), 1);
        string report = Path.Combine(dir, "report");
        ReproductionReport.Write(report, engine.Run(specs, "test"));

        string script = TestModels.AboveTestBinaries(Path.Combine("scripts", "report-screenshot.sh"), File.Exists);
        var start = new ProcessStartInfo("bash", [script, report]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "chromium did not finish in 2 minutes");
        Assert.True(process.ExitCode == 0, $"report-screenshot failed ({process.ExitCode}): {stdout} {stderr}");
        // A real screenshot: a PNG of the page, far larger than a blank one.
        byte[] png = File.ReadAllBytes(Path.Combine(report, "screenshot.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(png.Length > 20_000, $"screenshot is only {png.Length} bytes");
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
