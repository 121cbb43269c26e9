namespace Opossum.Grains.Models;

/// <summary>How model grains behave (section <c>Opossum:ModelGrain</c>).</summary>
public sealed class ModelGrainOptions
{
    public const string Section = "Opossum:ModelGrain";

    /// <summary>Generations one model runs at once; further requests wait their turn.</summary>
    public int MaxConcurrency { get; set; } = 4;
}
