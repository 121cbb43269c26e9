using System.Diagnostics;
using System.Net.Sockets;

namespace Opossum.Tests.Support;

/// <summary>
/// A real <c>redis-server</c> process on a loopback port: with no persistence to disk, or (persistent)
/// with an append-only file that every write reaches, so a server killed and started again keeps its data.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process _process;
    private readonly string? _directory;

    private RedisServer(Process process, int port, string? directory)
    {
        _process = process;
        Port = port;
        _directory = directory;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync(bool persistent = false)
    {
        var port = FreePorts.Next();
        var directory = persistent ? Directory.CreateTempSubdirectory("opossum-redis-").FullName : null;
        return new RedisServer(await LaunchAsync(port, directory), port, directory);
    }

    /// <summary>SIGKILL: Redis vanishes at once, as a crash or a lost host would make it.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Starts the server again on the same port, with what its append-only file kept.</summary>
    public async Task RestartAsync() => _process = await LaunchAsync(Port, _directory);

    private static async Task<Process> LaunchAsync(int port, string? directory)
    {
        var persistence = directory is null
            ? "--save \"\" --appendonly no"
            : $"--save \"\" --appendonly yes --appendfsync always --dir \"{directory}\"";
        var info = new ProcessStartInfo("redis-server", $"--port {port} --bind 127.0.0.1 {persistence}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed; ./scripts/test.sh installs it (apt-get install -y redis-server).", ex);
        }
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return process;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        process.Kill();
        throw new InvalidOperationException($"redis-server did not listen on port {port} within 5 s.");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        if (_directory is not null)
            Directory.Delete(_directory, recursive: true);
    }
}
