namespace PrefixLab.Model;

/// <summary>The Llama family's names for the tuning methods (<see cref="ModelFamily"/>).</summary>
internal static class LlamaFamily
{
    /// <summary>
    /// Hugging Face's module paths (<c>model.layers.L.self_attn.q_proj</c>); PEFT's defaults for the
    /// model type: LoRA on <c>q_proj</c> and <c>v_proj</c>; IA³ on the outputs of <c>k_proj</c> (Qwen2:
    /// <c>q_proj</c>) and <c>v_proj</c> and the input of <c>down_proj</c>, the product of the gate and
    /// the up projection (<c>mlp.hook_post</c>); a key/value prefix on the keys after the rotation
    /// (<c>hook_rot_k</c>) and the values, as Hugging Face caches them.
    /// </summary>
    public static ModelFamily For(LlamaConfig config)
    {
        long keyValues = (long)config.KeyValueHeads * config.HeadDim;
        Ia3Target Output(string module, long length) => new($"self_attn.{module}", module, false, [new($"attn.{module}.hook_out", length)]);
        Ia3Target[] ia3 =
        [
            config.ModelType == "qwen2" ? Output("q_proj", (long)config.Heads * config.HeadDim) : Output("k_proj", keyValues),
            Output("v_proj", keyValues),
            new("mlp.down_proj", "down_proj", true, [new("mlp.hook_post", config.MlpWidth)]),
        ];
        return new ModelFamily(config.ModelType, "model.layers", "model", ["q_proj", "v_proj"], ia3, "attn.hook_rot_k", "attn.hook_v", "attn.hook_rot_q", FanInFanOut: false);
    }
}
