using System.Text.Json;
using System.Text.Json.Serialization;

namespace PrefixLab.Experiments;

/// <summary>
/// A number a spec sizes per profile: either one number for every profile, or
/// <c>{"paper": 20000, "quick": 4000, "smoke": 20}</c>. A missing quick value falls back to the paper's,
/// a missing smoke value to the quick one, so a spec states only what it scales down.
/// </summary>
/// <typeparam name="T">int or double.</typeparam>
/// <param name="Paper">The paper's value.</param>
/// <param name="Quick">The quick profile's value, if it differs.</param>
/// <param name="Smoke">The smoke profile's value, if it differs.</param>
[JsonConverter(typeof(SizedConverterFactory))]
public sealed record Sized<T>(T Paper, T? Quick = null, T? Smoke = null)
    where T : struct
{
    /// <summary>The value under <paramref name="profile"/>.</summary>
    public T For(Profile profile) => profile.Name switch
    {
        Profiles.Smoke => Smoke ?? Quick ?? Paper,
        Profiles.Quick => Quick ?? Paper,
        _ => Paper,
    };

    /// <summary>Implicitly one value for every profile.</summary>
    public static implicit operator Sized<T>(T value) => new(value);
}

/// <summary>Reads and writes <see cref="Sized{T}"/> as a number or a per-profile object.</summary>
public sealed class SizedConverterFactory : JsonConverterFactory
{
    /// <inheritdoc />
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(Sized<>);

    /// <inheritdoc />
    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(SizedConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    private sealed class SizedConverter<T> : JsonConverter<Sized<T>>
        where T : struct
    {
        public override Sized<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number)
            {
                return new Sized<T>(JsonSerializer.Deserialize<T>(ref reader, options));
            }
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException("expected a number or {\"paper\": …, \"quick\": …, \"smoke\": …}");
            }
            T? paper = null, quick = null, smoke = null;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                string name = reader.GetString()!;
                reader.Read();
                var value = JsonSerializer.Deserialize<T>(ref reader, options);
                switch (name)
                {
                    case Profiles.Paper: paper = value; break;
                    case Profiles.Quick: quick = value; break;
                    case Profiles.Smoke: smoke = value; break;
                    default: throw new JsonException($"unknown profile '{name}' (known: paper, quick, smoke)");
                }
            }
            return new Sized<T>(paper ?? throw new JsonException("a sized value needs its \"paper\" value"), quick, smoke);
        }

        public override void Write(Utf8JsonWriter writer, Sized<T> value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            writer.WritePropertyName(Profiles.Paper);
            JsonSerializer.Serialize(writer, value.Paper, options);
            if (value.Quick is T quick)
            {
                writer.WritePropertyName(Profiles.Quick);
                JsonSerializer.Serialize(writer, quick, options);
            }
            if (value.Smoke is T smoke)
            {
                writer.WritePropertyName(Profiles.Smoke);
                JsonSerializer.Serialize(writer, smoke, options);
            }
            writer.WriteEndObject();
        }
    }
}
