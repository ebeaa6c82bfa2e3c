using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Serve.LoadTest.Scenarios;

/// <summary>Durations in scenario files read as "500ms", "30s", "2m", "1h" or a plain number of seconds.</summary>
internal sealed class DurationJsonConverter : JsonConverter<TimeSpan>
{
    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number) return TimeSpan.FromSeconds(reader.GetDouble());
        if (reader.TokenType != JsonTokenType.String) throw new JsonException("a duration is a string like \"30s\" or a number of seconds");
        return Parse(reader.GetString()!);
    }

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Format(value));

    public static TimeSpan Parse(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        (string suffix, double scale)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        foreach (var (suffix, scale) in units)
        {
            if (!s.EndsWith(suffix, StringComparison.Ordinal)) continue;
            // "ms" also ends with "s": only accept the suffix when what precedes it is a number.
            if (double.TryParse(s[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0)
                return TimeSpan.FromSeconds(v * scale);
        }
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            return TimeSpan.FromSeconds(seconds);
        throw new JsonException($"'{text}' is not a duration (use 500ms, 30s, 2m, 1h)");
    }

    public static string Format(TimeSpan value) =>
        value.TotalSeconds >= 1 && value.Milliseconds == 0
            ? value.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s"
            : value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";
}
