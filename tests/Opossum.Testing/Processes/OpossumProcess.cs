using System.Diagnostics;

namespace Opossum.Testing.Processes;

/// <summary>A real <c>Opossum.Silo</c>, <c>Opossum.Gateway</c> or benchmark process, started from its build output, serving HTTP on loopback.</summary>
public sealed class OpossumProcess : ChildProcess
{
    private OpossumProcess(string name, ProcessStartInfo info, IDictionary<string, string> environment, Uri http)
        : base(name, info, environment) => Http = http;

    public Uri Http { get; }

    /// <summary>
    /// The project's own build output next to the running assembly's (same configuration and framework);
    /// <paramref name="project"/> is its folder below the repository's root.
    /// </summary>
    public static string AssemblyPath(string project)
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = bin.Name;                 // net10.0
        var configuration = bin.Parent!.Name;     // Debug | Release
        var path = Path.Combine(Repository.Root, project, "bin", configuration, framework, Path.GetFileName(project) + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{project} is not built ({path}); build the solution first.", path);
    }

    /// <summary>
    /// Starts <paramref name="project"/> on <paramref name="httpPort"/>, logging warnings and worse, with <paramref name="environment"/> on top.
    /// Tests and benchmarks send far more chats from one address than a client may: no per-client chat limit unless the environment sets one.
    /// </summary>
    public static OpossumProcess Start(string name, string project, int httpPort, IDictionary<string, string> environment, string arguments = "")
    {
        var assembly = AssemblyPath(project);
        var settings = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort}",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Opossum__Limits__ChatsPerMinute"] = "0",
        };
        foreach (var (key, value) in environment)
            settings[key] = value;
        var info = new ProcessStartInfo("dotnet", $"\"{assembly}\" {arguments}") { WorkingDirectory = Path.GetDirectoryName(assembly)! };
        return new OpossumProcess(name, info, settings, new Uri($"http://127.0.0.1:{httpPort}"));
    }

    /// <summary>Waits until <c>/health/ready</c> (or <paramref name="path"/>, e.g. a silo's <c>/health</c>) answers 200.</summary>
    public Task WaitReadyAsync(TimeSpan timeout, string path = "/health/ready") => WaitForHttpAsync(new Uri(Http, path), timeout);
}
