using PrefixLab.Experiments;
using PrefixLab.Tests.Cli;

namespace PrefixLab.Tests.Experiments;

/// <summary>
/// The plan of units built from the real specs (no training): dependencies, shared trainings, the
/// estimates on N nodes, and what <c>reproduce --plan</c>, <c>--unit</c> and <c>--slurm --dry-run</c>
/// print and write.
/// </summary>
public class UnitPlanTests
{
    private static UnitPlan SmokePlan(int seeds, out Engine engine)
    {
        engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("smoke"), seeds);
        return engine.Plan(SpecLoader.LoadDirectory(SpecTests.SpecsDirectory()));
    }

    [Fact]
    public void Every_unit_comes_after_what_it_needs_and_shared_bases_are_one_unit()
    {
        var plan = SmokePlan(2, out _);
        var seen = new HashSet<string>();
        foreach (var unit in plan.Units)
        {
            Assert.All(unit.Needs, n => Assert.Contains(n, seen));
            Assert.True(seen.Add(unit.Id), $"{unit.Id} twice");
        }
        // Notebooks 03 and 04 and the completion count state the same base: one training per seed.
        foreach (ulong seed in new ulong[] { 1, 2 })
        {
            var bases = new[] { "nb03", "nb04", "completions" }.Select(s => plan.Get($"{s}/seed-{seed}").Needs.First()).Distinct().ToList();
            var only = Assert.Single(bases);
            Assert.Equal(UnitKind.Train, plan.Get(only).Kind);
            Assert.Empty(plan.Get(only).Needs);
        }
        // Each tuning run waits for its base; each seed for every training it reads; a collect for its seeds.
        var nb01 = plan.Get("nb01/seed-1");
        Assert.Equal(4, nb01.Needs.Count); // the base, full and prefix on descending, the shift's full run
        Assert.All(nb01.Needs.Skip(1), n => Assert.Equal([nb01.Needs[0]], plan.Get(n).Needs));
        Assert.Equal(["nb01/seed-1", "nb01/seed-2"], plan.Get("nb01/collect").Needs);
        Assert.DoesNotContain(plan.Units, u => u.Spec == "prefix-spread"); // no runner in this build
        Assert.Equal(3, plan.Levels()["nb01/collect"]);
    }

    [Fact]
    public void Wall_time_on_n_nodes_lies_between_the_critical_path_and_the_sum()
    {
        var plan = SmokePlan(2, out _);
        double total = plan.TotalSeconds, critical = plan.CriticalPathSeconds();
        Assert.True(critical > 0 && critical < total);
        Assert.Equal(total, plan.WallSeconds(1), 9);
        double previous = total;
        foreach (int n in new[] { 2, 8, 64 })
        {
            double wall = plan.WallSeconds(n);
            Assert.InRange(wall, critical - 1e-9, previous + 1e-9);
            Assert.True(wall >= total / n - 1e-9, $"{n} nodes cannot beat total/n");
            previous = wall;
        }
        Assert.Equal(critical, plan.WallSeconds(1000), 9); // enough nodes: only the chain is left
    }

    [Fact]
    public void Plan_prints_the_units_the_cpu_hours_and_the_wall_time_on_1_8_and_64_nodes()
    {
        var (code, stdout, stderr) = CliTests.Run("reproduce", "--profile", "paper", "--plan", "--specs", SpecTests.SpecsDirectory(), "--cache", TestModels.TempDirectory());
        Assert.True(code == 0, stderr);
        Assert.Contains("train/", stdout);
        Assert.Contains("nb03/seed-1", stdout);
        Assert.Matches(@"total: .+ CPU-hours \(\d+ cores\); critical path", stdout);
        foreach (int n in new[] { 1, 8, 64 })
        {
            Assert.Matches($@"\s{n} node\(s\): \d", stdout);
        }
    }

    [Theory]
    [InlineData("quick", 3)]
    [InlineData("smoke", 1)]
    [InlineData("paper", 1)]
    public void Without_seeds_the_quick_profile_plans_three_seeds_and_the_others_one(string profile, int seeds)
    {
        var (code, stdout, stderr) = CliTests.Run("reproduce", "--profile", profile, "--plan", "--only", "nb03", "--specs", SpecTests.SpecsDirectory(), "--cache", TestModels.TempDirectory());
        Assert.True(code == 0, stderr);
        Assert.Contains($"nb03/seed-{seeds} ", stdout);
        Assert.DoesNotContain($"nb03/seed-{seeds + 1} ", stdout);
        Assert.Contains($"rules over {seeds} seed(s)", stdout);
    }

    [Theory]
    [InlineData("--unit nope", "no unit 'nope' in this plan")]
    [InlineData("--unit nb01/seed-1 --jobs 2", "--jobs goes with a plain reproduce or --plan")]
    [InlineData("--plan --collect", "give one")]
    [InlineData("--partition x", "go with --slurm")]
    [InlineData("--device tpu", "unknown device 'tpu'")]
    [InlineData("--device cuda", "this TorchSharp has no CUDA")]
    [InlineData("--jobs 0", "--jobs must be between")]
    public void Bad_unit_options_give_one_line_and_exit_code_2(string args, string expected)
    {
        var (code, _, stderr) = CliTests.Run(["reproduce", "--profile", "smoke", "--cache", TestModels.TempDirectory(), .. args.Split(' ')]);
        Assert.Equal(2, code);
        Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void Slurm_dry_run_writes_one_requeueable_array_per_level_chained_with_afterok()
    {
        string dir = TestModels.TempDirectory();
        var (code, stdout, stderr) = CliTests.Run("reproduce", "--profile", "smoke", "--seeds", "2", "--slurm", "--dry-run", "--partition", "cpu", "--time", "1:00:00",
            "--specs", SpecTests.SpecsDirectory(), "--cache", Path.Combine(dir, "cache"), "--slurm-dir", Path.Combine(dir, "slurm"), "--out", Path.Combine(dir, "report"));
        Assert.True(code == 0, stderr);
        var plan = SmokePlan(2, out _);
        var levels = plan.Levels();
        int deepest = plan.Units.Where(u => u.Kind != UnitKind.Collect).Max(u => levels[u.Id]);
        for (int level = 0; level <= deepest; level++)
        {
            string script = File.ReadAllText(Path.Combine(dir, "slurm", $"level-{level}.sh"));
            int tasks = plan.Units.Count(u => u.Kind != UnitKind.Collect && levels[u.Id] == level);
            Assert.Contains($"#SBATCH --array=0-{tasks - 1}\n", script);
            Assert.Contains("#SBATCH --requeue\n", script);
            Assert.Contains("#SBATCH --partition=cpu\n", script);
            Assert.Contains("#SBATCH --time=1:00:00\n", script);
            Assert.Contains("#SBATCH --open-mode=append\nset -euo pipefail\n", script); // sbatch reads no directive after a command
            Assert.Contains("unit=\"${units[$SLURM_ARRAY_TASK_ID]}\"\n", script);
            Assert.Contains("--unit \"$unit\" && exit 0 || code=$?\n", script);
            Assert.Contains("scontrol requeue \"$SLURM_JOB_ID\"", script);
            Assert.Contains(level == 0 ? "J0=$(sbatch --parsable " : $"J{level}=$(sbatch --parsable --dependency=afterok:$J{level - 1} ", stdout);
        }
        string collect = File.ReadAllText(Path.Combine(dir, "slurm", "collect.sh"));
        Assert.Contains("--collect --since ", collect);
        Assert.Contains($"--dependency=afterok:$J{deepest} ", stdout);
        Assert.Contains("nothing submitted", stdout);
        Assert.False(Directory.Exists(Path.Combine(dir, "report")));
    }
}
