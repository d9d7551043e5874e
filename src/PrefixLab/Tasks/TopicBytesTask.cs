using PrefixLab.Util;

namespace PrefixLab.Tasks;

/// <summary>
/// A task whose model has a vocabulary of its own instead of the one every digit task shares
/// (<see cref="TaskRegistry.VocabularyOf"/>), so that registering it leaves the digit models as they are.
/// </summary>
public interface IOwnVocabulary
{
    /// <summary>Tokens in the model's vocabulary.</summary>
    int VocabSize { get; }
}

/// <summary>
/// A structured synthetic byte language (256 symbols) for claim C1's count on a vocabulary larger
/// than the digit models' 11: the first byte of a text sets its topic, one of <see cref="Topics"/>;
/// every next byte is drawn from the successors that the topic assigns to the current byte's group
/// (a byte's group is its topic: the same partition). Of the <see cref="Successors"/> successors the
/// first has probability <see cref="MainProbability"/>, the others share the rest, so a model that
/// learns the language continues greedily with the first successor. Its greedy continuation of a
/// single real byte then depends on the byte's topic alone: at most <see cref="Topics"/> distinct
/// continuations of the 256 single real tokens, while a virtual token at position 0 can stand for any
/// topic and lead to any first byte. The grammar is drawn once from <see cref="GrammarSeed"/>, so every
/// run sees one language; a run's seed draws its texts. The input is the first byte, the output the
/// <see cref="Length"/> − 1 bytes after it, so pretraining on it is next-byte prediction over the text.
/// </summary>
public sealed class TopicBytesTask : ITask, IOwnVocabulary
{
    /// <summary>Symbols of the language, and the vocabulary of its models.</summary>
    public const int Symbols = 256;

    /// <summary>Topics (and byte groups), each of <see cref="Symbols"/> / <see cref="Topics"/> bytes.</summary>
    public const int Topics = 32;

    /// <summary>Successors per topic and group.</summary>
    public const int Successors = 4;

    /// <summary>Probability of the first successor; the others share the rest evenly.</summary>
    public const double MainProbability = 0.55;

    /// <summary>Bytes in a text: the first (the input) and the continuation (the output).</summary>
    public const int Length = 16;

    /// <summary>The seed the grammar (topics and successors) is drawn from.</summary>
    public const ulong GrammarSeed = 256;

    private readonly int[] topic = new int[Symbols];
    private readonly int[,,] successors = new int[Topics, Topics, Successors];

    /// <summary>Draws the grammar from <see cref="GrammarSeed"/>.</summary>
    public TopicBytesTask()
    {
        var rng = new Rng(GrammarSeed);
        // A random permutation puts the bytes into topics, so a topic is not a range of byte values.
        var order = Enumerable.Range(0, Symbols).ToArray();
        for (int i = Symbols - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        for (int i = 0; i < Symbols; i++)
        {
            topic[order[i]] = i * Topics / Symbols;
        }
        for (int t = 0; t < Topics; t++)
        {
            for (int g = 0; g < Topics; g++)
            {
                for (int s = 0; s < Successors; s++)
                {
                    successors[t, g, s] = rng.Next(Symbols);
                }
            }
        }
    }

    /// <inheritdoc />
    public string Name => "topic-bytes";

    /// <inheritdoc />
    public string Description => $"next-byte prediction in a synthetic language of {Symbols} bytes whose first byte sets one of {Topics} topics";

    /// <inheritdoc />
    public int InputLength => 1;

    /// <inheritdoc />
    public int OutputLength => Length - 1;

    /// <inheritdoc />
    public int MaxToken => Symbols - 1;

    /// <inheritdoc />
    public int VocabSize => Symbols;

    /// <summary>The topic (and group) of <paramref name="symbol"/>.</summary>
    public int TopicOf(int symbol) => topic[symbol];

    /// <summary>The most likely byte after <paramref name="current"/> in a text of topic <paramref name="textTopic"/>.</summary>
    public int MainSuccessor(int textTopic, int current) => successors[textTopic, topic[current], 0];

    /// <summary>
    /// The greedy continuation of <paramref name="length"/> bytes that the language itself gives after
    /// the single byte <paramref name="first"/>: what a model that learnt it exactly would generate.
    /// </summary>
    public int[] GreedyContinuation(int first, int length)
    {
        var result = new int[length];
        int current = first;
        for (int i = 0; i < length; i++)
        {
            current = MainSuccessor(topic[first], current);
            result[i] = current;
        }
        return result;
    }

    /// <inheritdoc />
    public int[] SampleInput(Rng rng) => [rng.Next(Symbols)];

    /// <inheritdoc />
    /// <remarks>
    /// The text is random given its first byte; its draws come from the first byte and the sample's
    /// index in its stream, so a batch is the same whenever it is drawn (training resumes exactly).
    /// </remarks>
    public int[] Output(int[] input, long sampleIndex)
    {
        var rng = Rng.For(GrammarSeed, (ulong)sampleIndex, (ulong)input[0]);
        int textTopic = topic[input[0]], current = input[0];
        var output = new int[OutputLength];
        for (int i = 0; i < output.Length; i++)
        {
            double draw = rng.NextDouble();
            int pick = draw < MainProbability ? 0 : 1 + Math.Min(Successors - 2, (int)((draw - MainProbability) / ((1 - MainProbability) / (Successors - 1))));
            current = successors[textTopic, topic[current], pick];
            output[i] = current;
        }
        return output;
    }
}
