using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Opossum.Grains.Hosting;

/// <summary>
/// A setting an operator must change, found while it is read before the host is built (cluster, Redis, grain-call
/// timeout): the typed refusal the start-up guard prints as one line, as <c>SettingsCheck.Invalid</c> is in
/// ServiceDefaults, which this assembly does not reference. Options types say their problems through
/// <see cref="OptionsValidation"/> instead.
/// </summary>
public static class InvalidSetting
{
    public static OptionsValidationException Because(string problem) => new(Options.DefaultName, typeof(IConfiguration), [problem]);
}
