using System.Net.Sockets;
using Opossum.Tests.Support;

namespace Opossum.Tests.Cluster;

/// <summary>What an operator sees when a silo or gateway cannot start: one line, a non-zero exit.</summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class StartupErrorTests
{
    private static async Task<(int ExitCode, List<string> Lines)> RunToExitAsync(string project, Dictionary<string, string> environment)
    {
        await using var process = OpossumProcess.Start(project, project, FreePorts.Next(), environment);
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"{project} kept running:\n{string.Join('\n', process.Output)}");
        await Task.Delay(100); // the last output lines
        return (process.ExitCode, process.Output.ToList());
    }

    public static TheoryData<string, string, string, string> Cases => new()
    {
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=127.0.0.1:1", "Redis is not reachable", "cannot start" },
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=,,,", "is not a valid StackExchange.Redis connection string", "configuration error" },
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis", "needs REDIS_CONNECTION", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_CLUSTERING=swarm", "OPOSSUM_CLUSTERING must be 'localhost' or 'redis'", "configuration error" },
        { "Opossum.Gateway", "OLLAMA_BASE_URL=not a url", "OLLAMA_BASE_URL must be one or more absolute http(s) URLs", "cannot start" },
        { "Opossum.Gateway", "OTEL_ENABLED=maybe", "OTEL_ENABLED must be 'true' or 'false'", "configuration error" },
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=127.0.0.1:1;Opossum__RedisStateFormat=yaml", "Opossum:RedisStateFormat must be 'binary' or 'json'", "configuration error" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_process_that_cannot_start_says_why_in_one_line(string project, string settings, string reason, string kind)
    {
        var environment = settings.Split(';').Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        environment["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString();
        environment["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString();

        var (exitCode, lines) = await RunToExitAsync(project, environment);

        Assert.NotEqual(0, exitCode);
        var line = Assert.Single(lines, l => l.Contains(reason));
        Assert.StartsWith(project == "Opossum.Silo" ? "opossum-silo: " + kind : "opossum-gateway: " + kind, line);
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ") || l.Contains("Exception:"));
    }

    [Fact]
    public async Task A_port_in_use_is_named_with_the_setting_that_moves_it()
    {
        using var squatter = new TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;

        var (exitCode, lines) = await RunToExitAsync("Opossum.Silo", new()
        {
            ["OPOSSUM_SILO_PORT"] = port.ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
        });

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"opossum-silo: configuration error: port {port} is already in use (set OPOSSUM_SILO_PORT to another port)", lines);
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at "));
    }
}
