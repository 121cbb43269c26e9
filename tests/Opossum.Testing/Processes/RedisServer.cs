using System.ComponentModel;

namespace Opossum.Testing.Processes;

/// <summary>
/// A real <c>redis-server</c> process on a loopback port: with no persistence to disk, or (persistent)
/// with an append-only file that every write reaches, so a server killed and started again keeps its data.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private ChildProcess _process;
    private readonly string? _directory;

    private RedisServer(ChildProcess process, int port, string? directory)
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
    public async Task KillAsync() => await _process.DisposeAsync();

    /// <summary>Starts the server again on the same port, with what its append-only file kept.</summary>
    public async Task RestartAsync() => _process = await LaunchAsync(Port, _directory);

    private static async Task<ChildProcess> LaunchAsync(int port, string? directory)
    {
        var persistence = directory is null
            ? "--save \"\" --appendonly no"
            : $"--save \"\" --appendonly yes --appendfsync always --dir \"{directory}\"";
        ChildProcess process;
        try
        {
            process = ChildProcess.Start("redis-server", "redis-server", $"--port {port} --bind 127.0.0.1 {persistence}");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed; ./scripts/test.sh installs it (apt-get install -y redis-server).", ex);
        }
        try
        {
            await process.WaitForPortAsync(port, TimeSpan.FromSeconds(5));
            return process;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            await process.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        if (_directory is not null)
            Directory.Delete(_directory, recursive: true);
    }
}
