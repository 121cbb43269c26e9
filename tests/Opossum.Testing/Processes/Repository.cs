namespace Opossum.Testing.Processes;

public static class Repository
{
    /// <summary>The repository's root (where Opossum.sln is), found from the running assembly's build output.</summary>
    public static readonly string Root = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Opossum.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Opossum.sln not found above " + AppContext.BaseDirectory);
    }
}
