using Opossum.Grains;

namespace Opossum.Gateway.Chat;

/// <summary>
/// The sampling parameters every door accepts, checked by the same rules; each door names them as its protocol does
/// (<see cref="Names"/>), so a value out of range is refused naming the parameter the client sent.
/// </summary>
public static class Sampling
{
    public const double MaxTemperature = 2;

    /// <summary>Most stop sequences a request may give (OpenAI's limit).</summary>
    public const int MaxStopSequences = 4;

    /// <summary>Longest stop sequence, in characters.</summary>
    public const int MaxStopLength = 256;

    /// <summary>How a door names each parameter.</summary>
    public sealed record Names(string Temperature, string TopP, string MaxTokens, string Stop, string Seed);

    public static readonly Names GraphQLNames = new("temperature", "topP", "maxTokens", "stop", "seed");

    /// <summary>The checked options, or null when none is set.</summary>
    public static GenerationOptions? Options(double? temperature, double? topP, int? maxTokens, IReadOnlyList<string>? stop, long? seed, Names names)
    {
        if (temperature is { } t && (double.IsNaN(t) || t < 0 || t > MaxTemperature))
            throw OpossumException.BadInput($"{names.Temperature} must be between 0 and {MaxTemperature}, not {t}.", names.Temperature);
        if (topP is { } p && (double.IsNaN(p) || p <= 0 || p > 1))
            throw OpossumException.BadInput($"{names.TopP} must be greater than 0 and at most 1, not {p}.", names.TopP);
        if (maxTokens is < 1)
            throw OpossumException.BadInput($"{names.MaxTokens} must be at least 1, not {maxTokens}.", names.MaxTokens);
        if (stop is { Count: > MaxStopSequences })
            throw OpossumException.BadInput($"{names.Stop} may hold at most {MaxStopSequences} sequences, not {stop.Count}.", names.Stop);
        if (stop?.FirstOrDefault(s => s.Length is 0 or > MaxStopLength) is { } wrong)
            throw OpossumException.BadInput($"Each of {names.Stop} must be 1 to {MaxStopLength} characters, not {wrong.Length}.", names.Stop);
        var options = new GenerationOptions(temperature, topP, maxTokens, stop is { Count: > 0 } ? stop.ToList() : null, seed);
        return options.IsEmpty ? null : options;
    }
}
