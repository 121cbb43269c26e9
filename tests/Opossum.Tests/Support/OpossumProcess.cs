using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Opossum.Tests.Support;

/// <summary>A real <c>Opossum.Silo</c> or <c>Opossum.Gateway</c> process, started from its build output.</summary>
public sealed partial class OpossumProcess : IAsyncDisposable
{
    private readonly Process _process;

    private OpossumProcess(string name, Process process, Uri http)
    {
        Name = name;
        _process = process;
        Http = http;
    }

    public string Name { get; }

    public Uri Http { get; }

    public ConcurrentQueue<string> Output { get; } = new();

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The repository's root (where Opossum.sln is).</summary>
    public static string RepositoryRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Opossum.sln")))
            root = root.Parent;
        return root?.FullName ?? throw new InvalidOperationException("Opossum.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The project's own build output next to this test assembly's (same configuration); <paramref name="project"/> is its folder.</summary>
    public static string AssemblyPath(string project)
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = testBin.Name;                 // net10.0
        var configuration = testBin.Parent!.Name;     // Debug | Release
        var path = Path.Combine(RepositoryRoot(), project, "bin", configuration, framework, Path.GetFileName(project) + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{project} is not built ({path}); build the solution first.", path);
    }

    public static OpossumProcess Start(string name, string project, int httpPort, IDictionary<string, string> environment, string arguments = "")
    {
        var info = new ProcessStartInfo("dotnet", $"\"{AssemblyPath(project)}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(AssemblyPath(project))!,
        };
        foreach (var variable in info.Environment.Keys.Where(k => k.StartsWith("OTEL_") || k.StartsWith("OPOSSUM_") || k.StartsWith("ASPNETCORE_")).ToList())
            info.Environment.Remove(variable);
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort}";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in environment)
            info.Environment[key] = value;

        var process = Process.Start(info) ?? throw new InvalidOperationException($"{project} did not start");
        var started = new OpossumProcess(name, process, new Uri($"http://127.0.0.1:{httpPort}"));
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) started.Output.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) started.Output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    /// <summary>Waits until <c>/health/ready</c> (or <c>/health</c>) answers 200.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout, string path = "/health/ready")
    {
        using var http = new HttpClient { BaseAddress = Http, Timeout = TimeSpan.FromSeconds(3) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{string.Join('\n', Output)}");
            try
            {
                using var response = await http.GetAsync(path);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{Name} was not ready within {timeout.TotalSeconds} s:\n{string.Join('\n', Output)}");
    }

    /// <summary>SIGKILL: the process vanishes without a word to the cluster.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGTERM: the graceful stop an orchestrator sends.</summary>
    public void Terminate()
    {
        if (SendSignal(_process.Id, 15) != 0)
            throw new InvalidOperationException($"kill -TERM {_process.Id} failed");
    }

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
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
