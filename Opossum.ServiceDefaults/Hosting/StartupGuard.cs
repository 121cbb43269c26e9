using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Opossum.ServiceDefaults.Configuration;

namespace Opossum.ServiceDefaults.Hosting;

/// <summary>
/// Runs a process so that what stops it from starting (bad configuration, Redis unreachable, a port
/// in use) is one readable line on stderr and a non-zero exit code, not a stack trace.
/// </summary>
public static class StartupGuard
{
    public const int ConfigurationError = 2;
    public const int StartFailure = 3;

    /// <summary>
    /// The longest any regular expression of the process may take to match: clients send JSON Schemas whose patterns are
    /// matched against models' answers, and a pattern that backtracks without end must not hold a core.
    /// </summary>
    public static readonly TimeSpan RegexMatchTimeout = TimeSpan.FromSeconds(1);

    public static int Run(string processName, Func<WebApplication> build)
    {
        // Before anything builds a regular expression: the default is read once, by the first one.
        AppContext.SetData("REGEX_DEFAULT_MATCH_TIMEOUT", RegexMatchTimeout);
        WebApplication app;
        try
        {
            app = build();
            // Options before starting: the host connects to Redis before it validates them, and a wrong setting is what to name.
            app.Services.GetService<IStartupValidator>()?.Validate();
            app.Start();
        }
        catch (Exception ex) when (Describe(ex) is { } problem)
        {
            Console.Error.WriteLine($"{processName}: {problem}");
            return problem.ExitCode;
        }
        app.WaitForShutdown();
        return 0;
    }

    /// <summary>
    /// Fails fast, in one line, when a port this process must listen on is taken: checked before
    /// anything starts, so no component logs its own stack trace about it first.
    /// </summary>
    public static void EnsurePortsFree(params (string Setting, int Port)[] ports)
    {
        foreach (var (setting, port) in ports)
        {
            try
            {
                var listener = new TcpListener(System.Net.IPAddress.Any, port);
                listener.Server.ExclusiveAddressUse = true;
                listener.Start();
                listener.Stop();
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new PortInUseException($"port {port} is already in use (set {setting} to another port)");
            }
        }
    }

    /// <summary>The port of each TCP address in an ASP.NET Core <c>urls</c> value.</summary>
    public static IEnumerable<int> PortsOf(string urls) =>
        (ListenUrls.Parse(urls) ?? []).Where(u => !ListenUrls.IsUnixSocket(u)).Select(u => u.Port).Where(p => p > 0);

    /// <summary>
    /// Why the process cannot start, when an operator can fix it: a setting (exit code 2, however late
    /// it is found) or what it needs from elsewhere (exit code 3). Null for bugs, which keep their stack trace.
    /// </summary>
    public static StartupProblem? Describe(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                case PortInUseException:
                    return StartupProblem.Configuration(ex.Message);
                case OptionsValidationException options:
                    return StartupProblem.Configuration(string.Join("; ", options.Failures));
                case Microsoft.AspNetCore.Connections.AddressInUseException or SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }:
                    return StartupProblem.Configuration(FirstLine(ex.Message) + " (is another process using the port? set ASPNETCORE_URLS / OPOSSUM_SILO_PORT / OPOSSUM_GATEWAY_PORT)");
                case StackExchange.Redis.RedisConnectionException redis:
                    return StartupProblem.Start("Redis is not reachable (REDIS_CONNECTION): " + FirstSentence(redis.Message));
            }
        }
        return null;
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    private static string FirstSentence(string text) => FirstLine(text).Split(". ", 2)[0].TrimEnd('.') + ".";
}

/// <summary>One reason a process cannot start, as the line it prints after the process name.</summary>
public sealed record StartupProblem(string Kind, string Reason, int ExitCode)
{
    public static StartupProblem Configuration(string reason) => new("configuration error", reason, StartupGuard.ConfigurationError);

    public static StartupProblem Start(string reason) => new("cannot start", reason, StartupGuard.StartFailure);

    public override string ToString() => $"{Kind}: {Reason}";
}

/// <summary>Logging that leaves start-up failures to <see cref="StartupGuard"/>'s one line.</summary>
public static class StartupLogging
{
    public static ILoggingBuilder AddStartupFailureFilter(this ILoggingBuilder logging) =>
        // The host logs "Hosting failed to start" with the whole stack trace; the guard says it in one line.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

    /// <summary>
    /// Refuses a log level the logger factory would reject (<c>Logging:LogLevel:*</c>, <c>Logging:{provider}:LogLevel:*</c>)
    /// with its key: the factory's own error names only the value.
    /// </summary>
    public static void EnsureLevelsValid(IConfiguration configuration)
    {
        foreach (var provider in configuration.GetSection("Logging").GetChildren())
        {
            var levels = provider.Key.Equals("LogLevel", StringComparison.OrdinalIgnoreCase) ? provider : provider.GetSection("LogLevel");
            foreach (var (key, value) in levels.AsEnumerable())
            {
                if (value is { Length: > 0 } && !Enum.TryParse<LogLevel>(value, ignoreCase: true, out _))
                    throw SettingsCheck.Invalid($"{key} must be one of {string.Join(", ", Enum.GetNames<LogLevel>())}, not '{value}'.");
            }
        }
    }
}

/// <summary>A port this process needs is taken by another.</summary>
public sealed class PortInUseException(string message) : Exception(message);

/// <summary>The HTTP listen address when neither ASPNETCORE_URLS nor --urls gives one.</summary>
public static class DefaultUrls
{
    public static string Apply(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder, string fallback)
    {
        var urls = builder.Configuration["urls"] is { Length: > 0 } configured ? configured : fallback;
        if (ListenUrls.Parse(urls) is not { } parsed)
            throw SettingsCheck.Invalid($"ASPNETCORE_URLS must be one or more absolute http(s) URLs separated by ';' (e.g. {fallback}), not '{urls}'.");
        if (parsed.Any(u => u.Scheme == "https") && string.IsNullOrEmpty(builder.Configuration["Kestrel:Certificates:Default:Path"]))
            throw SettingsCheck.Invalid("ASPNETCORE_URLS has an https URL but Kestrel has no certificate: set Kestrel__Certificates__Default__Path (and __Password), or listen on http.");
        builder.WebHost.UseUrls(urls);
        return urls;
    }
}

/// <summary>The addresses of an ASP.NET Core <c>urls</c> value, as Kestrel reads them.</summary>
public static class ListenUrls
{
    /// <summary>
    /// Each address, with the any-host forms (<c>+</c>, <c>*</c>) read as localhost; null when there is none
    /// or one is not an absolute http(s) URL without a path (Kestrel refuses a path base there).
    /// </summary>
    public static IReadOnlyList<Uri>? Parse(string urls)
    {
        var addresses = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var parsed = new List<Uri>(addresses.Length);
        foreach (var address in addresses)
        {
            if (!Uri.TryCreate(address.Replace("://+", "://localhost").Replace("://*", "://localhost"), UriKind.Absolute, out var uri) ||
                uri.Scheme is not ("http" or "https") ||
                !(IsUnixSocket(uri) || (uri.PathAndQuery == "/" && uri.Fragment.Length == 0)))
                return null;
            parsed.Add(uri);
        }
        return parsed.Count > 0 ? parsed : null;
    }

    /// <summary>Kestrel's Unix domain socket form, <c>http://unix:/path/to/socket</c>.</summary>
    public static bool IsUnixSocket(Uri url) => url.Host.Equals("unix", StringComparison.OrdinalIgnoreCase);
}
