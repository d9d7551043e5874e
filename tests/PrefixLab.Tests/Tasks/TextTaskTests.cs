using PrefixLab.Evaluation;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;
using static TorchSharp.torch;

using PrefixLab.Tests.Tuning;

namespace PrefixLab.Tests.Tasks;

/// <summary>Text tasks from files: parsing, padded batches, training and evaluation.</summary>
public class TextTaskTests
{
    /// <summary>A stand-in tokenizer for the 11-token test models: one id per character.</summary>
    private static int[] Encode(string text) => [.. text.Select(c => c % 11)];

    private static string Write(string name, string content)
    {
        string path = Path.Combine(TestModels.TempDirectory(), name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Jsonl_and_csv_files_give_the_same_examples()
    {
        var jsonl = TextTask.Load(Write("emo.jsonl", "{\"text\": \"i am, happy\", \"label\": \"joy\"}\n\n{\"text\": \"so \\\"mad\\\"\", \"label\": \"anger\", \"split\": \"test\"}\n"));
        var csv = TextTask.Load(Write("emo.csv", "Text,Label,split\r\n\"i am, happy\",joy,\n\"so \"\"mad\"\"\",anger,test\n"));
        Assert.Equal("emo", jsonl.Name);
        Assert.Equal(jsonl.Examples, csv.Examples);
        Assert.Equal(["anger", "joy"], csv.Labels);
        Assert.Equal(DataSplit.Test, csv.Examples[1].Split);
        Assert.Equal("TEXT: i am, happy EMOTION:", csv.Prompt(csv.Examples[0].Text));
        Assert.Equal(" joy", TextTask.Answer("joy"));
    }

    [Theory]
    [InlineData("a.jsonl", "{\"text\": \"x\"}\n", "line 1 lacks a 'text' or a 'label'")]
    [InlineData("a.jsonl", "{\"text\": \"x\", \"label\": \"y\"}\nnot json\n", "line 2 is not a JSON object")]
    [InlineData("a.csv", "text,label\n\"open,joy\n", "ends inside a quoted field")]
    [InlineData("a.csv", "text,label\nx,y,z\n", "row 2 has 3 fields")]
    [InlineData("a.csv", "text,label,split\nx,y,dev\n", "split 'dev'")]
    [InlineData("a.txt", "x", ".jsonl, .csv or .parquet")]
    public void Bad_files_are_refused_with_one_line(string name, string content, string expected)
    {
        var e = Assert.Throws<PrefixLabException>(() => TextTask.Load(Write(name, content)));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Right_padding_changes_no_loss_and_only_answers_are_scored()
    {
        var task = TextTask.Load(Write("t.jsonl", "{\"text\": \"ab\", \"label\": \"c\", \"split\": \"train\"}\n{\"text\": \"abcdefgh\", \"label\": \"dd\", \"split\": \"train\"}\n"));
        var samples = TextSamples.Encode(task, Encode, paddingRows: 2);
        using var model = TestModels.Create(blockSize: 40);
        using var noGrad = no_grad();
        var losses = new List<float>();
        for (ulong seed = 0; seed < 40 && losses.Count < 2; seed++)
        {
            // A batch of one short example against the same example beside a longer one.
            var (inputs, targets) = samples.TrainingBatch(2, Util.Rng.For(seed));
            var rows = inputs.data<long>().ToArray();
            if (targets[0].ne(SequenceLayout.IgnoreIndex).sum().item<long>() != 2 || targets[1].ne(SequenceLayout.IgnoreIndex).sum().item<long>() != 3)
            {
                continue; // want row 0 the short example and row 1 the long one
            }
            Assert.Equal(0, rows[0] + rows[1]); // the padding rows in front
            int shortLength = 2 + samples.Train[0].Prompt.Length + samples.Train[0].Answer.Length - 1;
            using var alone = TaskTraining.Loss(model, inputs[..1, ..shortLength], targets[..1, ..shortLength], shortLength);
            using var padded = TaskTraining.Loss(model, inputs[..1], targets[..1], (int)inputs.shape[1]);
            Assert.Equal(alone.item<float>(), padded.item<float>(), 5);
            losses.Add(padded.item<float>());
        }
        Assert.NotEmpty(losses);
    }

    [Fact]
    public void Batched_evaluation_equals_decoding_each_example_alone()
    {
        var lines = Enumerable.Range(0, 12).Select(i => $"{{\"text\": \"{new string('a', 1 + (i % 3))}{i}\", \"label\": \"{(i % 2 == 0 ? "x" : "yz")}\", \"split\": \"test\"}}");
        var samples = TextSamples.Encode(TextTask.Load(Write("t.jsonl", string.Join('\n', lines))), Encode, 0);
        using var model = TestModels.Create(blockSize: 40, seed: 3);
        int expected = 0;
        foreach (var sample in samples.Test)
        {
            using var prompt = tensor(sample.Prompt.Select(i => (long)i).ToArray(), [1, sample.Prompt.Length]);
            using var generated = Generation.Greedy(model, prompt, sample.Answer.Length);
            expected += generated.data<long>().ToArray().SequenceEqual(sample.Answer.Select(i => (long)i)) ? 1 : 0;
        }
        var result = TextEvaluator.Evaluate(model, samples, batchSize: 3);
        Assert.Equal(12, result.Samples);
        Assert.Equal(expected, result.Correct);
    }

    [Fact]
    public void Every_method_trains_on_a_text_task_through_the_one_loop()
    {
        var lines = Enumerable.Range(0, 16).Select(i => $"{{\"text\": \"{(i % 2 == 0 ? "aa" : "bbb")}{i % 5}\", \"label\": \"{(i % 2 == 0 ? "x" : "y")}\", \"split\": \"train\"}}");
        var task = TextTask.Load(Write("t.jsonl", string.Join('\n', lines)));
        foreach (var name in new[] { "soft-prompt", "prefix", "prefix-kv", "lora", "full" })
        {
            using var model = TestModels.Create(blockSize: 40, seed: 5);
            using var method = TuningMethods.Create(name, model, TestSettings.For(name, prefixSize: 2));
            var samples = TextSamples.Encode(task, Encode, method.PaddingRows ?? 0);
            var options = new TrainOptions { Iterations = 60, BatchSize = 8, LearningRate = 1e-2, LogEvery = 10 };
            var first = new List<double>();
            var result = Trainer.Run(MethodTraining.ForMethod(model, method, samples, options, 0, "base"), options, p => first.Add(p.Loss));
            Assert.Equal(60, result.Steps);
            Assert.True(result.FinalLoss < first[0], $"{name}: loss {first[0]} → {result.FinalLoss}");
        }
    }
}
