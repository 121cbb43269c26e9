using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Opossum.Grains.Hosting;

/// <summary>
/// The one way an options type is checked: the type names its own problems (a <c>Problems()</c> method, in the
/// words of the settings an operator sets), and start-up refuses it with all of them; the start-up guard prints them
/// as one line.
/// </summary>
public static class OptionsValidation
{
    /// <summary>Checks the options at start-up (and whenever they are first read) with <paramref name="problems"/>.</summary>
    public static OptionsBuilder<T> ValidateProblemsOnStart<T>(this OptionsBuilder<T> options, Func<T, IEnumerable<string>> problems) where T : class
    {
        options.Services.AddSingleton<IValidateOptions<T>>(new Problems<T>(options.Name, problems));
        return options.ValidateOnStart();
    }

    private sealed class Problems<T>(string name, Func<T, IEnumerable<string>> problems) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? optionsName, T options)
        {
            if (optionsName != name)
                return ValidateOptionsResult.Skip;
            var found = problems(options).ToList();
            return found.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(found);
        }
    }
}
