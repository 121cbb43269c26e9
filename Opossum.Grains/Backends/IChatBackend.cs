namespace Opossum.Grains.Backends;

/// <summary>A model backend service (Ollama, Gemini) spoken to over its own HTTP API.</summary>
public interface IChatBackend
{
    /// <summary>The service name: "ollama", "gemini".</summary>
    string Name { get; }

    /// <summary>False when the backend is switched off by configuration (Gemini without a key).</summary>
    bool Enabled => true;

    /// <summary>Generates one answer; failures are <see cref="OpossumException"/> with code BACKEND_UNAVAILABLE.</summary>
    Task<Generation> GenerateAsync(ModelDefinition model, IReadOnlyList<ChatMessage> messages, CancellationToken cancellationToken);

    /// <summary>Checks that the service answers; throws <see cref="BackendCheckException"/> with the reason when not.</summary>
    Task CheckAsync(CancellationToken cancellationToken);
}

/// <summary>An availability check that failed, with a reason fit for operators.</summary>
public sealed class BackendCheckException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Finds the backend for a service name.</summary>
public sealed class BackendRegistry(IEnumerable<IChatBackend> backends)
{
    /// <summary>The services a model's <c>Backend</c> may name, whether or not this process hosts them.</summary>
    public static readonly IReadOnlyList<string> Services = [Ollama.OllamaBackend.ServiceName, Gemini.GeminiBackend.ServiceName];

    private readonly Dictionary<string, IChatBackend> _byName = backends.Where(b => b.Enabled).ToDictionary(b => b.Name, StringComparer.Ordinal);

    /// <summary>The enabled backend of a service, or null when it is unknown or switched off.</summary>
    public IChatBackend? Find(string service) => _byName.GetValueOrDefault(service);

    public bool IsEnabled(string service) => _byName.ContainsKey(service);
}
