namespace Opossum.Grains.Backends;

/// <summary>A model backend service (Ollama, Gemini) spoken to over its own HTTP API, on one or more servers.</summary>
public interface IChatBackend
{
    /// <summary>The backend's name (<see cref="BackendNames"/>).</summary>
    string Name { get; }

    /// <summary>False when the backend is switched off by configuration (Gemini without a key).</summary>
    bool Enabled => true;

    /// <summary>The servers generations are balanced across, each with its parallelism.</summary>
    IReadOnlyList<BackendServer> Servers { get; }

    /// <summary>Longest wait for one generation.</summary>
    TimeSpan RequestTimeout { get; }

    /// <summary>Longest wait for a free slot on a server.</summary>
    TimeSpan QueueTimeout { get; }

    /// <summary>
    /// Generates one answer to <paramref name="request"/> (its messages and sampling options) on <paramref name="server"/>: with <paramref name="stream"/> chunk by chunk as the
    /// server writes it, else asked of the server whole and given as one chunk (cheaper when nobody reads the
    /// chunks). The last chunk carries the whole generation. Failures, before the first chunk or after, are
    /// <see cref="OpossumException"/> with code BACKEND_UNAVAILABLE; a stream that ends early is one.
    /// </summary>
    IAsyncEnumerable<GenerationChunk> GenerateAsync(BackendServer server, ModelDefinition model, GenerationRequest request, bool stream,
        CancellationToken cancellationToken);

    /// <summary>Checks that <paramref name="server"/> answers; throws <see cref="BackendCheckException"/> with the reason when not.</summary>
    Task CheckAsync(BackendServer server, CancellationToken cancellationToken);
}

/// <summary>An availability check that failed, with a reason fit for operators.</summary>
public sealed class BackendCheckException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Finds the backend of a name (<see cref="BackendNames"/>).</summary>
public sealed class BackendRegistry(IEnumerable<IChatBackend> backends)
{
    private readonly Dictionary<string, IChatBackend> _byName = backends.Where(b => b.Enabled).ToDictionary(b => b.Name, StringComparer.Ordinal);

    /// <summary>The enabled backend of that name, or null when it is unknown or switched off.</summary>
    public IChatBackend? Find(string name) => _byName.GetValueOrDefault(name);

    public bool IsEnabled(string name) => _byName.ContainsKey(name);

    /// <summary>Why a backend takes no traffic on this server, as its health says it.</summary>
    public static string DisabledReason(string backend) => backend == BackendNames.Gemini
        ? "disabled: GEMINI_API_KEY is not set"
        : $"disabled: no backend named '{backend}' is enabled on this server";

    /// <summary>The error of a generation asked of a backend that is switched off.</summary>
    public static OpossumException Disabled(string backend) =>
        new(ErrorCodes.BackendUnavailable, $"Backend '{backend}' is {DisabledReason(backend)}.");
}
