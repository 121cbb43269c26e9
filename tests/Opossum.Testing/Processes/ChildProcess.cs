using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Opossum.Testing.Processes;

/// <summary>
/// A real process started by a test or the benchmark (redis-server, a silo, the gateway, the benchmark's
/// ceiling server): none of the parent's Opossum, OpenTelemetry or ASP.NET Core settings reach it, its
/// output is kept, and disposing it kills it with its children. The base of <see cref="OpossumProcess"/>.
/// </summary>
public partial class ChildProcess : IAsyncDisposable
{
    /// <summary>The runtime's inline-socket-completions switch: the benchmark sets it for itself, no child inherits it.</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private readonly Process _process;
    private bool _disposed;

    protected ChildProcess(string name, ProcessStartInfo info, IDictionary<string, string> environment)
    {
        Name = name;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        foreach (var key in info.Environment.Keys.Where(Inherited).ToList())
            info.Environment.Remove(key);
        foreach (var (key, value) in environment)
            info.Environment[key] = value;
        _process = Process.Start(info) ?? throw new InvalidOperationException($"{name} did not start");
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) Output.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Output.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Id => _process.Id;

    /// <summary>Every line it wrote, standard output and error together.</summary>
    public ConcurrentQueue<string> Output { get; } = new();

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    private static bool Inherited(string variable) =>
        variable.StartsWith("OTEL_") || variable.StartsWith("OPOSSUM_") || variable.StartsWith("ASPNETCORE_") || variable == InlineCompletionsVariable;

    /// <exception cref="System.ComponentModel.Win32Exception"><paramref name="file"/> is not found.</exception>
    public static ChildProcess Start(string name, string file, string arguments, IDictionary<string, string>? environment = null) =>
        new(name, new ProcessStartInfo(file, arguments), environment ?? new Dictionary<string, string>());

    /// <summary>Whether <paramref name="file"/> is an executable on PATH, as <see cref="Start"/> would find it.</summary>
    public static bool OnPath(string file) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, file)));

    /// <summary>CPU time the process has used so far (user + system, from /proc).</summary>
    public TimeSpan CpuTime()
    {
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th of the whole line, in clock ticks (100 Hz).
        var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return TimeSpan.FromSeconds((long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0);
    }

    /// <summary>Resident set size from /proc, in MiB.</summary>
    public double RssMiB()
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            if (line.StartsWith("VmRSS:"))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        return double.NaN;
    }

    /// <summary>Waits until <paramref name="url"/> answers with a success status.</summary>
    public async Task WaitForHttpAsync(Uri url, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            ThrowIfExited();
            try
            {
                using var response = await http.GetAsync(url);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{Name} did not answer {url} within {timeout.TotalSeconds} s:\n{string.Join('\n', Output)}");
    }

    /// <summary>Waits until something accepts connections on <paramref name="port"/> of loopback.</summary>
    public async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            ThrowIfExited();
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException($"{Name} did not listen on port {port} within {timeout.TotalSeconds} s:\n{string.Join('\n', Output)}");
    }

    private void ThrowIfExited()
    {
        if (_process.HasExited)
            throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{string.Join('\n', Output)}");
    }

    /// <summary>SIGKILL: the process vanishes without a word, as a crash or a lost host would make it.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGTERM: the graceful stop an orchestrator sends.</summary>
    public void Terminate()
    {
        if (SendSignal(_process.Id, 15) != 0)
            throw new InvalidOperationException($"kill -TERM {_process.Id} failed");
    }

    /// <summary>Waits for the process to exit and its output to be read to the end: its last lines are in <see cref="Output"/> then.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SendSignal(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        GC.SuppressFinalize(this);
    }
}
