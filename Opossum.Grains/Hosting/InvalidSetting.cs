using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Opossum.Grains.Hosting;

/// <summary>A setting an operator must change: the typed refusal the start-up guard prints as one line.</summary>
public static class InvalidSetting
{
    public static OptionsValidationException Because(string problem) => new(Options.DefaultName, typeof(IConfiguration), [problem]);
}
