using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Opossum.ServiceDefaults.Hosting;

/// <summary>
/// Runs a process so that what stops it from starting (bad configuration, Redis unreachable, a port
/// in use) is one readable line on stderr and a non-zero exit code, not a stack trace.
/// </summary>
public static class StartupGuard
{
    public const int ConfigurationError = 2;
    public const int StartFailure = 3;

    public static int Run(string processName, Func<WebApplication> build)
    {
        WebApplication app;
        try
        {
            app = build();
        }
        catch (Exception ex) when (Describe(ex) is { } reason)
        {
            Console.Error.WriteLine($"{processName}: configuration error: {reason}");
            return ConfigurationError;
        }

        try
        {
            app.Start();
        }
        catch (Exception ex) when (Describe(ex) is { } reason)
        {
            Console.Error.WriteLine($"{processName}: cannot start: {reason}");
            return StartFailure;
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

    /// <summary>The port of each address in an ASP.NET Core <c>urls</c> value.</summary>
    public static IEnumerable<int> PortsOf(string urls) =>
        urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(u => Uri.TryCreate(u.Replace("://+", "://localhost").Replace("://*", "://localhost"), UriKind.Absolute, out var uri) ? uri.Port : -1)
            .Where(p => p > 0);

    /// <summary>A one-line reason for the failures an operator can fix; null for bugs (which keep their stack trace).</summary>
    public static string? Describe(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                case PortInUseException:
                    return ex.Message;
                case OptionsValidationException options:
                    return string.Join("; ", options.Failures);
                case IOException when ex.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } ||
                                      ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase):
                    return FirstLine(ex.Message) + " (is another process using the port? set ASPNETCORE_URLS / OPOSSUM_SILO_PORT / OPOSSUM_GATEWAY_PORT)";
                case SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }:
                    return FirstLine(ex.Message) + " (is another process using the port? set OPOSSUM_SILO_PORT / OPOSSUM_GATEWAY_PORT)";
                case StackExchange.Redis.RedisConnectionException redis:
                    return "Redis is not reachable (REDIS_CONNECTION): " + FirstSentence(redis.Message);
                case InvalidOperationException when ex.Message.Contains("REDIS_CONNECTION") || ex.Message.Contains("OPOSSUM_") ||
                                                    ex.Message.Contains("OTEL_") || ex.Message.Contains("must be"):
                    return FirstLine(ex.Message);
            }
        }
        return null;
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    private static string FirstSentence(string text) => FirstLine(text).Split(". ", 2)[0].TrimEnd('.') + ".";
}

/// <summary>Logging that leaves start-up failures to <see cref="StartupGuard"/>'s one line.</summary>
public static class StartupLogging
{
    public static Microsoft.Extensions.Logging.ILoggingBuilder AddStartupFailureFilter(this Microsoft.Extensions.Logging.ILoggingBuilder logging) =>
        // The host logs "Hosting failed to start" with the whole stack trace; the guard says it in one line.
        Microsoft.Extensions.Logging.FilterLoggingBuilderExtensions.AddFilter(logging, "Microsoft.Extensions.Hosting.Internal.Host", Microsoft.Extensions.Logging.LogLevel.Critical);
}

/// <summary>A port this process needs is taken by another.</summary>
public sealed class PortInUseException(string message) : Exception(message);

/// <summary>The HTTP listen address when neither ASPNETCORE_URLS nor --urls gives one.</summary>
public static class DefaultUrls
{
    public static string Apply(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder, string fallback)
    {
        var urls = builder.Configuration["urls"] is { Length: > 0 } configured ? configured : fallback;
        builder.WebHost.UseUrls(urls);
        return urls;
    }
}
