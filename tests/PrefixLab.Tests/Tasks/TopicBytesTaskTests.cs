using PrefixLab.Experiments;
using PrefixLab.Tasks;
using PrefixLab.Util;

namespace PrefixLab.Tests.Tasks;

public class TopicBytesTaskTests
{
    private static readonly TopicBytesTask Language = (TopicBytesTask)TaskRegistry.Default.Get("topic-bytes");

    [Fact]
    public void Sampled_texts_follow_the_main_successor_about_55_percent_of_the_time()
    {
        // Count, over sampled texts, how often each byte follows a (topic, current group) pair: the most
        // frequent must be the grammar's main successor, at a frequency near 0.55 (4 successors).
        var rng = new Rng(7);
        var follows = new Dictionary<(int Topic, int Group), Dictionary<int, int>>();
        for (long i = 0; i < 20_000; i++)
        {
            var input = Language.SampleInput(rng);
            var text = input.Concat(Language.Output(input, i)).ToArray();
            int topic = Language.TopicOf(text[0]);
            for (int p = 1; p < text.Length; p++)
            {
                var key = (topic, Language.TopicOf(text[p - 1]));
                var counts = follows.TryGetValue(key, out var c) ? c : follows[key] = [];
                counts[text[p]] = counts.GetValueOrDefault(text[p]) + 1;
            }
        }
        int checkedPairs = 0;
        foreach (var ((topic, group), counts) in follows.Where(f => f.Value.Values.Sum() >= 200))
        {
            int representative = Enumerable.Range(0, TopicBytesTask.Symbols).First(s => Language.TopicOf(s) == group);
            var top = counts.MaxBy(c => c.Value);
            Assert.Equal(Language.MainSuccessor(topic, representative), top.Key);
            Assert.InRange(top.Value / (double)counts.Values.Sum(), 0.45, 0.75); // 0.55, or more where successors coincide
            Assert.True(counts.Count <= TopicBytesTask.Successors);
            checkedPairs++;
        }
        Assert.True(checkedPairs >= 100, $"only {checkedPairs} (topic, group) pairs were sampled often enough");
    }

    [Fact]
    public void Every_topic_holds_eight_bytes_and_the_language_continues_single_bytes_in_at_most_32_ways()
    {
        var sizes = Enumerable.Range(0, TopicBytesTask.Symbols).GroupBy(Language.TopicOf).Select(g => g.Count()).ToList();
        Assert.Equal(32, sizes.Count);
        Assert.All(sizes, s => Assert.Equal(8, s));
        var continuations = Enumerable.Range(0, TopicBytesTask.Symbols).Select(t => string.Join(' ', Language.GreedyContinuation(t, 10))).Distinct().Count();
        Assert.InRange(continuations, 2, 32);
    }

    [Fact]
    public void A_text_is_a_function_of_its_first_byte_and_its_index()
    {
        Assert.Equal(Language.Output([5], 3), Language.Output([5], 3));
        Assert.NotEqual(Language.Output([5], 3), Language.Output([5], 4));
        Assert.Equal(15, Language.Output([5], 3).Length);
    }

    [Fact]
    public void The_byte_model_has_256_tokens_and_the_digit_models_keep_11()
    {
        var model = new ModelSetup(2, 4, 128, 0);
        var quick = Profiles.Get(Profiles.Quick);
        Assert.Equal(256, model.Config("topic-bytes", 0, quick).VocabSize);
        Assert.Equal(15, model.Config("topic-bytes", 0, quick).BlockSize);
        Assert.Equal(11, model.Config("random", 0, quick).VocabSize);
        Assert.Equal(11, model.Config("ascending", 0, quick).VocabSize);
    }
}
