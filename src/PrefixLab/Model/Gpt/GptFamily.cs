namespace PrefixLab.Model;

/// <summary>The GPT family's names for the tuning methods (<see cref="ModelFamily"/>).</summary>
internal static class GptFamily
{
    /// <summary>
    /// minGPT's and GPT-2's module paths; LoRA on the MLP and the attention output (the paper's
    /// <c>c_fc</c>, <c>c_proj</c>); IA³ as PEFT's GPT-2 defaults (<c>c_attn</c>, <c>mlp.c_proj</c>),
    /// the fused <c>c_attn</c> vector acting on the queries, keys and values per head in thirds; a
    /// key/value prefix on the keys and values attention reads.
    /// </summary>
    public static ModelFamily For(GptConfig config)
    {
        int width = config.Width;
        Ia3Target[] ia3 =
        [
            new("attn.c_attn", "c_attn", false, [new("attn.hook_q", width, config.Heads), new("attn.hook_k", width, config.Heads), new("attn.hook_v", width, config.Heads)]),
            new("mlp.c_proj", "mlp.c_proj", true, [new("mlp.hook_post", config.MlpWidth)]),
        ];
        return new ModelFamily("gpt", "transformer.h", "transformer", ["c_fc", "c_proj"], ia3, "attn.hook_k", "attn.hook_v", "attn.hook_q", FanInFanOut: true);
    }
}
